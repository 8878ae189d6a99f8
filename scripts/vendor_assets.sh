#!/usr/bin/env bash
# Vendor the dashboard's browser assets from the npm registry into the server package (no CDN at
# run time: clinics may be offline). Re-run to update; the version is pinned here.
set -euo pipefail
UPLOT_VERSION="1.6.32"
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/server/dorsi/server/web/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@${UPLOT_VERSION}" >/dev/null && tar -xzf "uplot-${UPLOT_VERSION}.tgz")
mkdir -p "$dest"
cp "$work/package/dist/uPlot.iife.min.js" "$dest/uPlot.iife.min.js"
cp "$work/package/dist/uPlot.min.css" "$dest/uPlot.min.css"
cp "$work/package/LICENSE" "$dest/uPlot.LICENSE"
echo "uPlot ${UPLOT_VERSION} vendored into ${dest#"$here"/}"
