#!/usr/bin/env bash
# Installs the Debian 12 packages tuban needs to build, run and test (as root, or with sudo).
# Safe to run again: it does nothing when everything is present.
set -euo pipefail
packages=(
  gcc libc6-dev pkg-config   # C toolchain for gdal-sys and libsqlite3-sys
  libgdal-dev                # GDAL 3.6 with PROJ, GEOS and the system SQLite
  libturbojpeg0-dev          # libjpeg-turbo 2.1 (TurboJPEG API): the report chips' JPEG encoder
  gdal-bin python3-gdal      # ogrinfo, ogr2ogr and validate_gpkg.py (used by the tests)
  zip sqlite3 xz-utils       # fixtures script, inspecting project files, the fuzz corpus replay
  poppler-utils qpdf         # report checks: pdftotext, pdffonts, pdftoppm, qpdf --check
  libx11-6 libx11-xcb1 libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6   # the window (X11)
  libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri mesa-vulkan-drivers          # software OpenGL/Vulkan (UI tests)
  xvfb xauth xdotool imagemagick                                           # screenshots (scripts/screenshot.sh)
  qgis python3-qgis          # QGIS opens the project in a test (PyQGIS headless, /usr/bin/python3)
  postgresql-15 postgresql-15-postgis-3 libpq-dev openssl   # the team hub's tests start throwaway clusters (initdb, pg_ctl; pg_config finds them)
)
missing=()
for p in "${packages[@]}"; do
  [[ "$p" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# The hub's tests make their own throwaway clusters: no system cluster, no server left running.
had_cluster=no
[ -d /etc/postgresql/15/main ] && had_cluster=yes
if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  $SUDO mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
$SUDO apt-get update -qq
# (confold: keep the createcluster.conf written above instead of asking about it.)
$SUDO apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
# Should this install have made a system cluster anyway, it is stopped and removed (one that was
# there before is left alone): the tests use their own.
if [ "$had_cluster" = no ] && [ -d /etc/postgresql/15/main ] && command -v pg_dropcluster >/dev/null; then
  $SUDO pg_dropcluster --stop 15 main || true
fi
