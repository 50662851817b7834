#!/bin/sh
# The container image's build steps, shared by deploy/Dockerfile and tests/deploy/test_image.py (which runs the
# Dockerfile's own RUN lines that call this script, outside Docker), so CI checks what the image build does.
#
#   install.sh wheels SRC WHEELS [EXTRAS]   build stage: the positron-broker wheel and every dependency's wheel
#   install.sh venv WHEELS VENV [EXTRAS]    runtime stage: a fresh venv from those wheels only (no index, no
#                                           compiler, no source tree), then a smoke check of the console script
# EXTRAS is e.g. "[otel]" for the OpenTelemetry exporter. $PYTHON picks the interpreter (default: python3).
set -eu
PYTHON="${PYTHON:-python3}"
step="$1"; shift
case "$step" in
  wheels)
    src="$1"; wheels="$2"; extras="${3:-}"
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$wheels" "$src$extras"
    ;;
  venv)
    wheels="$1"; venv="$2"; extras="${3:-}"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$wheels" \
      "positron-broker$extras"
    "$venv/bin/positron" --version
    ;;
  *)
    echo "usage: install.sh wheels SRC WHEELS [EXTRAS] | install.sh venv WHEELS VENV [EXTRAS]" >&2
    exit 2
    ;;
esac
