#!/bin/sh
# The container's entry point, as in the official memcached image: with
# arguments that start with a dash (`docker run IMAGE -m 1024 -F ...`)
# they are flags for memcached; anything else is a command to run.
set -e
case "$1" in
    -*) set -- memcached "$@" ;;
esac
exec "$@"
