//! Random numbers and key choice: a seeded 64-bit generator, the uniform
//! and Zipf distributions over the key space, and the fixed permutation
//! that spreads Zipf's popular ranks over the key indexes.
//!
//! Zipf uses rejection-inversion (W. Hörmann and G. Derflinger, "Rejection-
//! inversion to generate variates from monotone discrete distributions",
//! ACM TOMACS 6(3), 1996). It needs no table and no zeta(N) sum, so a
//! billion-key space costs nothing to set up, and it is exact: P(rank k)
//! is proportional to 1/(k+1)^theta. It draws about 1.0x uniform numbers
//! per sample for theta near 1.

/// splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", 2014): one 64-bit word of state, passes BigCrush, and costs
/// a handful of multiplies per number.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng {
            state: seed ^ 0x6a09_e667_f3bc_c909,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// Returns a number in [0, n) by multiply-and-shift (Lemire), which has
    /// a bias below n/2^64: nothing a benchmark can see.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Returns a double in [0, 1) with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The splitmix64 finaliser: a bijective mix of a 64-bit word.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Zipf over ranks 0..n with exponent theta: rank 0 is the most popular.
///
/// In the paper's terms the ranks are k = 1..n with hat function
/// h(x) = x^-theta, its integral H(x) = (x^(1-theta) - 1) / (1-theta)
/// (log x at theta = 1) and the inverse Hinv. A sample inverts a uniform
/// point of [H(1.5) - 1, H(n + 0.5)] to x, rounds it to k and accepts k
/// when the point fell under the bar of k; `squeeze` accepts most draws
/// without evaluating H.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: f64,
    theta: f64,
    /// H(1.5) - h(1): the lower end of the inversion interval.
    h_lo: f64,
    /// H(n + 0.5): its upper end.
    h_hi: f64,
    /// 2 - Hinv(H(2.5) - h(2)): a k with k - x <= squeeze is always accepted.
    squeeze: f64,
}

impl Zipf {
    /// Returns the distribution over `n` >= 1 ranks; `theta` >= 0 (0 is uniform).
    pub fn new(n: u64, theta: f64) -> Zipf {
        assert!(n >= 1 && theta >= 0.0);
        let mut z = Zipf {
            n: n as f64,
            theta,
            h_lo: 0.0,
            h_hi: 0.0,
            squeeze: 0.0,
        };
        z.h_lo = z.big_h(1.5) - 1.0;
        z.h_hi = z.big_h(n as f64 + 0.5);
        z.squeeze = 2.0 - z.big_h_inv(z.big_h(2.5) - z.h(2.0));
        z
    }

    /// Draws one rank in [0, n).
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_hi + rng.unit() * (self.h_lo - self.h_hi);
            let x = self.big_h_inv(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.squeeze || u >= self.big_h(k + 0.5) - self.h(k) {
                return k as u64 - 1;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.theta * x.ln()).exp()
    }

    /// H(x) = (x^(1-theta) - 1) / (1-theta), written with expm1 so theta
    /// near 1 loses no precision.
    fn big_h(&self, x: f64) -> f64 {
        let lx = x.ln();
        expm1_over_x((1.0 - self.theta) * lx) * lx
    }

    /// The inverse of `big_h`, written with log1p for the same reason.
    fn big_h_inv(&self, y: f64) -> f64 {
        let t = (y * (1.0 - self.theta)).max(-1.0);
        (log1p_over_x(t) * y).exp()
    }
}

/// expm1(x)/x, continuous at 0 where it is 1.
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x / 2.0 + x * x / 6.0
    }
}

/// log1p(x)/x, continuous at 0 where it is 1.
fn log1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x / 2.0 + x * x / 3.0
    }
}

/// A fixed bijection of [0, n): rank r goes to (r * mult + add) mod n with
/// mult coprime to n. Zipf's hot ranks 0, 1, 2 ... land far apart in the
/// key space instead of being key:0, key:1, key:2, and the map is the same
/// on every run whatever the seed, so hot keys stay hot across runs.
#[derive(Clone, Debug)]
pub struct Scramble {
    n: u64,
    mult: u64,
    add: u64,
}

impl Scramble {
    pub fn new(n: u64) -> Scramble {
        let mut mult = 0x9e37_79b9_7f4a_7c15 % n.max(1);
        while n > 1 && gcd(mult, n) != 1 {
            mult = (mult + 1) % n;
        }
        Scramble {
            n,
            mult,
            add: 0x2545_f491_4f6c_dd1d % n.max(1),
        }
    }

    pub fn map(&self, rank: u64) -> u64 {
        ((rank as u128 * self.mult as u128 + self.add as u128) % self.n as u128) as u64
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// How the key of each request is chosen.
#[derive(Clone, Debug)]
pub enum KeyDist {
    Uniform { n: u64 },
    Zipf { zipf: Zipf, scramble: Scramble },
}

impl KeyDist {
    pub fn uniform(n: u64) -> KeyDist {
        KeyDist::Uniform { n }
    }

    pub fn zipf(n: u64, theta: f64) -> KeyDist {
        KeyDist::Zipf {
            zipf: Zipf::new(n, theta),
            scramble: Scramble::new(n),
        }
    }

    /// Draws a key index in [0, n).
    pub fn next(&self, rng: &mut Rng) -> u64 {
        match self {
            KeyDist::Uniform { n } => rng.below(*n),
            KeyDist::Zipf { zipf, scramble } => scramble.map(zipf.sample(rng)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sum over k = 1..n of k^-theta: the normalising constant.
    fn zeta(n: u64, theta: f64) -> f64 {
        (1..=n).map(|k| (k as f64).powf(-theta)).sum()
    }

    fn frequencies(n: u64, theta: f64, draws: usize, seed: u64) -> Vec<u64> {
        let z = Zipf::new(n, theta);
        let mut rng = Rng::new(seed);
        let mut count = vec![0u64; n as usize];
        for _ in 0..draws {
            let r = z.sample(&mut rng);
            assert!(r < n, "rank {r} out of range");
            count[r as usize] += 1;
        }
        count
    }

    #[test]
    fn zipf_rank0_frequency_matches_theory() {
        for &(n, theta) in &[
            (1000u64, 0.99f64),
            (1000, 1.0),
            (100_000, 0.99),
            (50, 0.5),
            (1000, 1.5),
        ] {
            let draws = 1_000_000;
            let count = frequencies(n, theta, draws, 7);
            let z = zeta(n, theta);
            for rank in 0..5u64 {
                let want = ((rank + 1) as f64).powf(-theta) / z;
                let got = count[rank as usize] as f64 / draws as f64;
                // Five standard deviations of a binomial proportion.
                let tol = 5.0 * (want * (1.0 - want) / draws as f64).sqrt();
                assert!(
                    (got - want).abs() < tol,
                    "n={n} theta={theta} rank {rank}: got {got:.5}, theory {want:.5}"
                );
            }
        }
    }

    #[test]
    fn zipf_is_monotone_in_rank() {
        let count = frequencies(100, 0.99, 500_000, 3);
        // Neighbours can tie by chance; ranks ten apart cannot swap.
        for r in 0..90 {
            assert!(
                count[r] > count[r + 10],
                "rank {r} {} <= rank {} {}",
                count[r],
                r + 10,
                count[r + 10]
            );
        }
    }

    #[test]
    fn zipf_theta_zero_is_uniform() {
        let count = frequencies(10, 0.0, 200_000, 5);
        for c in count {
            assert!((c as f64 - 20_000.0).abs() < 5.0 * 134.0, "count {c}");
        }
    }

    #[test]
    fn zipf_one_key() {
        let z = Zipf::new(1, 0.99);
        let mut rng = Rng::new(1);
        assert!((0..1000).all(|_| z.sample(&mut rng) == 0));
    }

    #[test]
    fn same_seed_same_sequence() {
        let d = KeyDist::zipf(1_000_000, 0.99);
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..1000).map(|_| d.next(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
    }

    #[test]
    fn scramble_is_a_permutation() {
        for n in [1u64, 2, 7, 64, 1000, 4096, 999_983] {
            let s = Scramble::new(n);
            let mut seen = vec![false; n as usize];
            for r in 0..n {
                let i = s.map(r) as usize;
                assert!(!seen[i], "n={n}: {i} hit twice");
                seen[i] = true;
            }
        }
        let s = Scramble::new(1_000_000);
        assert_ne!(s.map(1), s.map(0) + 1, "hot ranks must not be neighbours");
    }

    #[test]
    fn uniform_below_stays_in_range() {
        let mut rng = Rng::new(9);
        let mut count = [0u32; 7];
        for _ in 0..70_000 {
            count[rng.below(7) as usize] += 1;
        }
        assert!(
            count.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{count:?}"
        );
    }
}
