#!/bin/sh
# Usage: fetch.sh name=version ...   Downloads .deb files into /debs (the host's cache) with apt.
set -eu
cd /debs
apt-get download -q -o APT::Sandbox::User=root "$@" >&2
