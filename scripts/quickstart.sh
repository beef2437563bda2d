#!/usr/bin/env bash
# The README's first command: set up, generate one business date's inputs and run the nightly
# Airflow DAG on it with the embedded default (AIRFLOW_HOME=./airflow_home, SQLite metadata,
# `airflow dags test`: every task of xmargin_nightly in this one process), then say where the
# outputs are.
#
#   bash scripts/quickstart.sh [YYYY-MM-DD]     default: the latest SIFMA business day <= today
#
# Environment: XMARGIN_DATA_ROOT (default ./data), QUICKSTART_ACCOUNTS (default 2000),
# XMARGIN_AIRFLOW_HOME (default ./airflow_home).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

echo "quickstart: setting up .venv (pinned dependencies)…"
bash scripts/setup.sh

export XMARGIN_DATA_ROOT="${XMARGIN_DATA_ROOT:-$REPO/data}"
ACCOUNTS="${QUICKSTART_ACCOUNTS:-2000}"
DATE="${1:-$(.venv/bin/python - <<'PY'
import datetime as dt
from pipeline.calendar import NEW_YORK, is_business_day, previous_business_day

today = dt.datetime.now(NEW_YORK).date()
print(today if is_business_day(today) else previous_business_day(today))
PY
)}"

# The embedded Airflow: its own home under the repository (gitignored), SQLite, this checkout's
# DAG and plugin folders. Nothing outside the repository is touched.
export AIRFLOW_HOME="${XMARGIN_AIRFLOW_HOME:-$REPO/airflow_home}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$AIRFLOW_HOME"
LOG="$AIRFLOW_HOME/quickstart-$DATE.log"
: > "$LOG"

echo "quickstart: generating $ACCOUNTS accounts of inputs for $DATE in $XMARGIN_DATA_ROOT/inbox…"
.venv/bin/xmargin --quiet generate --date "$DATE" --accounts "$ACCOUNTS"

echo "quickstart: preparing the Airflow metadata database ($AIRFLOW_HOME/airflow.db)…"
if ! .venv/bin/airflow db migrate >>"$LOG" 2>&1; then
  tail -n 40 "$LOG" >&2
  echo "quickstart: airflow db migrate failed; full log: $LOG" >&2
  exit 1
fi

echo "quickstart: running the xmargin_nightly DAG for $DATE (log: $LOG)…"
CONF="{\"business_date\": \"$DATE\", \"data_root\": \"$XMARGIN_DATA_ROOT\"}"
if ! .venv/bin/airflow dags test xmargin_nightly --conf "$CONF" >>"$LOG" 2>&1; then
  grep -E '"level":"error"|ERROR|Error:' "$LOG" | tail -n 15 >&2 || tail -n 40 "$LOG" >&2
  echo "quickstart: the DAG run for $DATE failed; full log: $LOG" >&2
  exit 1
fi

OUT="$XMARGIN_DATA_ROOT/outputs/business_date=$DATE"
if [ ! -f "$OUT/_SUCCESS" ]; then
  echo "quickstart: the DAG run ended but $OUT/_SUCCESS is missing; log: $LOG" >&2
  exit 1
fi
echo
echo "xmargin: $DATE published by Airflow (xmargin_nightly) to"
echo "  $OUT/"
ls -1 "$OUT" | sed 's/^/    /'
echo "  open the report: $OUT/report.html"
