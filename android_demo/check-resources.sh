#!/usr/bin/env bash
# Compile and link the app's res/ and AndroidManifest.xml with aapt2 against Debian's
# framework-res.apk (Android 10 / API 29 resources), so manifest and resource errors show up
# without the Android SDK. Installs aapt + android-framework-res if missing. Exit 0 = linked.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP="$HERE/app/src/main"

if ! command -v aapt2 >/dev/null || ! ls /usr/share/android-framework-res/framework-res.apk >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends aapt android-framework-res >/dev/null 2>&1 || {
        DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q >/dev/null 2>&1
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends aapt android-framework-res >/dev/null; }
fi
FRAMEWORK="$(ls /usr/share/android-framework-res/framework-res.apk 2>/dev/null || find /usr/share /usr/lib -name framework-res.apk 2>/dev/null | head -1)"
[ -n "$FRAMEWORK" ] || { echo "framework-res.apk not found" >&2; exit 1; }

WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
aapt2 compile --dir "$APP/res" -o "$WORK/res.zip"
# AGP 8 takes the package from `namespace` in app/build.gradle.kts (a package attribute in the
# source manifest is an error there); its manifest merger adds it, as this sed does.
NAMESPACE="$(sed -nE 's/^ *namespace *= *"([^"]+)".*/\1/p' "$HERE/app/build.gradle.kts" | head -1)"
sed -E "0,/<manifest /s//<manifest package=\"$NAMESPACE\" /" "$APP/AndroidManifest.xml" > "$WORK/AndroidManifest.xml"
# Versions as in build.gradle.kts; framework-res is API 29, so that is the highest target here.
aapt2 link -o "$WORK/app.apk" -I "$FRAMEWORK" --manifest "$WORK/AndroidManifest.xml" \
    --min-sdk-version 26 --target-sdk-version 29 \
    --version-code 1 --version-name 0.1 --auto-add-overlay "$WORK/res.zip"
aapt2 dump resources "$WORK/app.apk" >/dev/null 2>&1 || aapt2 dump "$WORK/app.apk" >/dev/null
echo "aapt2 link ok against $FRAMEWORK" >&2
