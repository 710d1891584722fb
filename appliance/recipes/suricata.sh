#!/bin/sh
# gwlbd recipe "suricata": route-back (gwi-X -> gwo-X) plus one Suricata process per
# endpoint watching gwi-X, i.e. every packet the policy allowed, before the kernel
# forwards it. Alerts go to eve.json in the log directory.
# Hook arguments (gwlbtun's): CREATE|DESTROY gwi-X gwo-X <endpoint id hex>
# Environment: GWLBD_SURICATA_CONFIG   suricata.yaml (default /etc/suricata/suricata.yaml)
#              GWLBD_SURICATA_RULES    rules file (default /etc/gwlbd/recipes/suricata.rules,
#                                      else the shipped one)
#              GWLBD_SURICATA_LOG_DIR  log directory (default /var/log/suricata/<gwi-X>)
#              GWLBD_RUN_DIR           pid files (default /run/gwlbd)
set -eu
action=$1 gwi=$2 gwo=$3 eni=$4
here=$(dirname "$0")
run_dir=${GWLBD_RUN_DIR:-/run/gwlbd}
pidfile="$run_dir/suricata-$gwi.pid"

case "$action" in
CREATE)
    "$here/route-back.sh" "$@"
    config=${GWLBD_SURICATA_CONFIG:-/etc/suricata/suricata.yaml}
    rules=${GWLBD_SURICATA_RULES:-/etc/gwlbd/recipes/suricata.rules}
    [ -f "$rules" ] || rules="$here/suricata.rules"
    log_dir=${GWLBD_SURICATA_LOG_DIR:-/var/log/suricata/$gwi}
    mkdir -p "$run_dir" "$log_dir"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        kill "$(cat "$pidfile")" || true
        sleep 1
    fi
    rm -f "$pidfile"
    suricata -D -c "$config" -S "$rules" -l "$log_dir" --pidfile "$pidfile" --pcap="$gwi"
    echo "suricata: watching $gwi, eve.json in $log_dir"
    ;;
DESTROY)
    if [ -f "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    fi
    "$here/route-back.sh" "$@"
    ;;
*)
    echo "usage: $0 CREATE|DESTROY gwi-X gwo-X ENI" >&2
    exit 2
    ;;
esac
