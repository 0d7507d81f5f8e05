#!/usr/bin/env bash
# The same `iiap run` on a Spark standalone cluster on this machine and in local mode, one after the other, whole
# processes timed (wall seconds), on a landing of your choice (e.g. two platforms' rosters and first log day).
#
#   benchmarks/cluster_vs_local.sh LANDING [PAIRS]
#
# The cluster: a master and two workers (1 core, 1 GB each) on 127.0.0.1 from the pip-installed Spark, as
# tests/e2e/test_cluster.py starts it, stopped when the script ends; the run is `make package`'s zip submitted in
# client mode with the test session's small-data settings (--conf). Local mode runs twice per pair: the `local`
# profile as shipped, and the same settings as the cluster run. Figures go to benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
LANDING=$(realpath "$1")
PAIRS=${2:-1}
ROOT=$(mktemp -d /tmp/iiap-cluster-bench.XXXX)
BIN=.venv/bin
export SPARK_LOCAL_IP=127.0.0.1 SPARK_DAEMON_MEMORY=256m PYSPARK_PYTHON=$PWD/$BIN/python
export IIAP_PSEUDONYM_KEY=${IIAP_PSEUDONYM_KEY:-bench-only-key-0123456789}
CONFS=(--conf spark.sql.shuffle.partitions=1 --conf spark.default.parallelism=2
       --conf spark.databricks.delta.snapshotPartitions=1 --conf spark.databricks.delta.writeChecksumFile.enabled=false
       --conf spark.sql.codegen.wholeStage=false --conf spark.sql.adaptive.enabled=false --conf spark.ui.enabled=false)

$BIN/python -m jobs package --out "$ROOT/dist" > /dev/null 2>&1
PIDS=()
stop() { for p in "${PIDS[@]}"; do kill -- "-$p" 2>/dev/null || true; done; }
trap stop EXIT
setsid $BIN/spark-class org.apache.spark.deploy.master.Master --host 127.0.0.1 --port 17177 --webui-port 18180 \
  > "$ROOT/master.log" 2>&1 & PIDS+=($!)
for i in 1 2; do
  setsid $BIN/spark-class org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores 1 --memory 1g \
    --webui-port "1818$i" --work-dir "$ROOT/w$i" spark://127.0.0.1:17177 > "$ROOT/worker$i.log" 2>&1 & PIDS+=($!)
done
until curl -s http://127.0.0.1:18180/json/ | grep -c '"state" : "ALIVE"' | grep -q 2; do sleep 1; done

wall() {  # seconds of a whole command, its output kept in $ROOT/$1.log
  local name=$1; shift
  local start=$(date +%s.%N)
  "$@" > "$ROOT/$name.log" 2>&1 || { echo "$name failed: $ROOT/$name.log" >&2; exit 1; }
  echo "$(date +%s.%N) - $start" | bc
}
JARS=$(ls "$ROOT"/dist/jars/*.jar | paste -sd, -)
RESULTS=benchmarks/results/cluster_vs_local.json
mkdir -p benchmarks/results
echo "[" > "$RESULTS.tmp"
for k in $(seq 1 "$PAIRS"); do
  c=$(wall "cluster$k" $BIN/spark-submit --master spark://127.0.0.1:17177 --total-executor-cores 2 \
      --executor-cores 1 --executor-memory 1g "${CONFS[@]}" --jars "$JARS" --py-files "$ROOT/dist/iiap-code.zip" \
      "$ROOT/dist/iiap_main.py" --profile cluster --lakehouse "$ROOT/cluster$k" --landing "$LANDING" run)
  l=$(wall "local$k" $BIN/python -m jobs --lakehouse "$ROOT/local$k" --landing "$LANDING" run)
  s=$(wall "same$k" $BIN/spark-submit --master 'local[*]' "${CONFS[@]}" --jars "$JARS" \
      --py-files "$ROOT/dist/iiap-code.zip" "$ROOT/dist/iiap_main.py" --profile local \
      --lakehouse "$ROOT/same$k" --landing "$LANDING" run)
  printf 'pair %s: cluster %.1f s, local profile %.1f s, local with the cluster settings %.1f s\n' "$k" "$c" "$l" "$s"
  [ "$k" -gt 1 ] && echo "," >> "$RESULTS.tmp"
  printf '{"pair": %s, "cluster_s": %s, "local_profile_s": %s, "local_same_conf_s": %s}\n' "$k" "$c" "$l" "$s" \
    >> "$RESULTS.tmp"
done
echo "]" >> "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "figures: $RESULTS; logs: $ROOT"
