//! Starting and stopping one server process on a free loopback port.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub struct Server {
    pub port: u16,
    child: Child,
}

/// A port nobody listens on right now (bind to 0, read it, close).
fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Server {
    /// Starts `bin` with the options every run shares plus `extra`, and
    /// waits (up to 10 s) until it accepts connections.
    pub fn start(bin: &str, extra: &[String]) -> Result<Server, String> {
        for _ in 0..5 {
            let port = free_port().map_err(|e| format!("no free port: {e}"))?;
            let mut cmd = Command::new(bin);
            cmd.arg("-p")
                .arg(port.to_string())
                .arg("-U")
                .arg("0")
                .arg("-l")
                .arg("127.0.0.1");
            if is_root() {
                cmd.arg("-u").arg("nobody");
            }
            cmd.args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = cmd.spawn().map_err(|e| format!("cannot run {bin}: {e}"))?;
            let mut s = Server { port, child };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Ok(s);
                }
                if let Ok(Some(status)) = s.child.try_wait() {
                    // Someone took the port between our probe and its bind:
                    // try another one.
                    if status.code() == Some(71) || status.code() == Some(1) {
                        break;
                    }
                    return Err(format!("{bin} exited at start: {status}"));
                }
                if Instant::now() > deadline {
                    return Err(format!("{bin} did not listen on port {port} within 10 s"));
                }
                sleep(Duration::from_millis(2));
            }
        }
        Err(format!("{bin}: could not start on a free port"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
