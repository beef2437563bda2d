#!/usr/bin/env bash
# Set up, generate a business date's inputs and run the nightly job on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XMARGIN_DATA_ROOT="${XMARGIN_DATA_ROOT:-$PWD/data}"
DATE="${1:-$(.venv/bin/python -c 'import datetime as d; from pipeline.calendar import previous_business_day as p; print(p(d.date.today() + d.timedelta(days=1)))')}"
if [ ! -f pipeline/generate/__init__.py ] || [ ! -f pipeline/margin/__init__.py ]; then
  echo "quickstart: the generator and margin engine are not built yet (issues 2 and 3);" \
       "setup is done, nothing to run for $DATE" >&2
  exit 1
fi
.venv/bin/xmargin generate --date "$DATE" --accounts 2000
.venv/bin/xmargin run --date "$DATE"
