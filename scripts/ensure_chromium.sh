#!/bin/sh
# `make test`'s set-up for the browser tests: install Debian's chromium when it is missing
# (the tests drive it with Playwright; `playwright install` is never run). Under flock so
# that two `make` runs starting together install it once. Never fails the build: without
# the browser the tests skip, or fail when LLMRELAY_REQUIRE_SERVICES=1 (CI).
set -u
CHROMIUM="${LLMRELAY_CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "browser tests: $CHROMIUM is missing and there is no apt-get" >&2
	exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
		echo "browser tests: $CHROMIUM is missing and installing it needs root" >&2
		exit 0
	fi
fi
install() {
	[ -x "$CHROMIUM" ] && return 0
	echo "installing chromium for the browser tests (apt-get, first run only)" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || {
		$SUDO apt-get update -q >/dev/null 2>&1 &&
		$SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1
	} || echo "browser tests: installing chromium failed" >&2
}
if command -v flock >/dev/null 2>&1; then
	LOCK="${TMPDIR:-/tmp}/llmrelay-chromium.lock"
	( flock 9; install ) 9>"$LOCK"
else
	install
fi
exit 0
