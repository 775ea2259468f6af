#!/usr/bin/env bash
# ds201-lab1 grading environment: Gradescope runs this once when it builds the autograder image,
# `otter grade` once in its Dockerfile. Written into the autograder zip by `make assignment`
# (src/ds201_lab1/build.py) in place of otter's template: it needs only apt and PyPI (no
# Miniforge, no GitHub download, no LaTeX, no browser: the assignment's pdf is false).
#
# 1. Python @PYTHON@ from the distribution's archive (Debian 12, Ubuntu 22.04) and a venv in
#    @VENV@ holding requirements.txt (every package pinned to the versions the project tests).
# 2. The datasets, once, into the loader's cache @DATA_DIR@ (DS201_DATA_DIR): from the zip's
#    files/ds201_data when the zip carries them (Gradescope unpacks files/ before this script;
#    otter grade adds files/ after it, so run_autograder lays them out there), else downloaded
#    by Keras now. Grading never downloads (run_autograder sets DS201_OFFLINE=1).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SOURCE=/autograder/source
PYTHON=python@PYTHON@
VENV=@VENV@
DATA_IN_ZIP=@DATA_IN_ZIP@
export DS201_DATA_DIR=@DATA_DIR@

apt-get update
if ! apt-get install -y --no-install-recommends "$PYTHON" "$PYTHON-venv" ca-certificates; then
    echo "setup.sh: $PYTHON is not in this image's apt archive; choose the Ubuntu 22.04 base image" \
         "(its universe holds $PYTHON) or a Debian 12 one." >&2
    exit 1
fi

"$PYTHON" -m venv "$VENV"
if [ -z "${PIP_CACHE_DIR:-}" ]; then export PIP_NO_CACHE_DIR=1; fi  # keep the image small
"$VENV/bin/python" -m pip install --upgrade pip
"$VENV/bin/python" -m pip install -r "$SOURCE/requirements.txt"

mkdir -p "$DS201_DATA_DIR"
if [ -d "$SOURCE/files/ds201_data" ]; then
    # Gradescope: move them out of files/, which otter copies next to every submission.
    mv "$SOURCE"/files/ds201_data/*.npz "$DS201_DATA_DIR"/
    rm -rf "$SOURCE/files/ds201_data"
elif [ "$DATA_IN_ZIP" = 1 ]; then
    echo "setup.sh: the datasets come in the zip's files/ds201_data; run_autograder lays them out"
else
    "$VENV/bin/python" - <<'PY'
import os, sys
from pathlib import Path

import keras
import numpy as np

cache = Path(os.environ["DS201_DATA_DIR"])
for name in ("mnist", "cifar10"):
    if (cache / f"{name}.npz").is_file():
        continue
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as e:  # Keras raises a bare Exception ("URL fetch failure ...")
        sys.exit(f"setup.sh: datasets missing: downloading {name} failed ({e}). Build the zip with the data "
                 "(python -m ds201_lab1.build --data-zip ...) for an image without internet.")
    tmp = cache / f".{name}.npz"
    np.savez(tmp, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    tmp.rename(cache / f"{name}.npz")
    print(f"setup.sh: {name} cached in {cache}")
PY
    rm -rf /root/.keras/datasets
fi
chmod -R a+rX "$DS201_DATA_DIR"
