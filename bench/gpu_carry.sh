#!/usr/bin/env bash
# What bench/gpu_session.sh needs on the device machine that it does not have, into .gpu_carry/ (ignored by git,
# named in the run tool's `carry`; under the 64 MiB a call may carry):
# - wheels (Python 3.12, x86-64) of the packages the engine needs and the machine lacks: datasets (with dill and
#   multiprocess) and pydantic (with pydantic-core, annotated-types, typing-inspection);
# - the bundled model's tokenizer (a bert-base-uncased vocabulary, for the BERT-base stand-in);
# - for the accuracy check: the bundled MiniLM with fp16 weights (~45 MB; the engine trains it in fp32/bf16) and
#   30,000 rows of SST-2's training split from ../shared/data (or SST2=path).
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu_carry
grep -qx "/$CARRY/" "$(git rev-parse --git-common-dir)/info/exclude" 2>/dev/null \
    || echo "/$CARRY/" >> "$(git rev-parse --git-common-dir)/info/exclude"
mkdir -p "$CARRY/wheels"
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
for spec in "datasets==$(python3 -c 'import datasets; print(datasets.__version__)')" dill multiprocess \
            "pydantic==$(python3 -c 'import pydantic; print(pydantic.VERSION)')" \
            "pydantic-core==$(python3 -c 'import pydantic_core; print(pydantic_core.__version__)')" \
            annotated-types typing-inspection; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${platforms[@]}" -d "$CARRY/wheels" "$spec"
done
PYTHONPATH=$PWD python3 - "$CARRY" "${SST2:-}" <<'PY'
import shutil
import sys
from pathlib import Path

import pandas as pd
import torch
from transformers import AutoModel, AutoTokenizer

from bertstudio.models.bundled import bundled_model_path

carry, sst2 = Path(sys.argv[1]), sys.argv[2]
bundled = bundled_model_path()
AutoTokenizer.from_pretrained(bundled).save_pretrained(carry / "tokenizer")
model = AutoModel.from_pretrained(bundled, dtype=torch.float16)
model.save_pretrained(carry / "minilm")
AutoTokenizer.from_pretrained(bundled).save_pretrained(carry / "minilm")
for extra in ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json"):  # its mean pooling
    if (bundled / extra).is_file():
        shutil.copy(bundled / extra, carry / "minilm" / extra)
if (bundled / "1_Pooling").is_dir():
    shutil.copytree(bundled / "1_Pooling", carry / "minilm" / "1_Pooling", dirs_exist_ok=True)
source = Path(sst2) if sst2 else Path("..") / "shared" / "data" / "sst2" / "train.csv"
if not source.is_file():
    source = Path("/work/shared/data/sst2/train.csv")
pd.read_csv(source).sample(n=30_000, random_state=0).to_csv(carry / "sst2.csv", index=False)
PY
du -sh "$CARRY"; ls "$CARRY/wheels"
