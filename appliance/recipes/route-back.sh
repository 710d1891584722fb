#!/bin/sh
# gwlbd recipe "route-back" (bump in the wire): every packet entering gwi-X leaves
# through gwo-X, with the kernel firewall in between.
# Hook arguments (gwlbtun's): CREATE|DESTROY gwi-X gwo-X <endpoint id hex>
# The daemon itself has already set rp_filter, accept_local and forwarding.
# Environment: GWLBD_RECIPE_NFT  nftables file loaded on CREATE
#              (default /etc/gwlbd/recipes/route-back.nft, else the shipped one)
set -eu
action=$1 gwi=$2 gwo=$3 eni=$4
here=$(dirname "$0")
# one routing table per endpoint, derived from its id
table=$(( $(printf '%s' "$eni" | cksum | cut -d ' ' -f 1) % 1000000 + 100000 ))
pref=${GWLBD_RULE_PREF:-100}

case "$action" in
CREATE)
    echo "route-back: $gwi -> $gwo (table $table)"
    ip -4 rule del pref "$pref" iif "$gwi" 2>/dev/null || true
    ip -4 rule add pref "$pref" iif "$gwi" lookup "$table"
    ip -4 route replace default dev "$gwo" table "$table"
    ip -6 rule del pref "$pref" iif "$gwi" 2>/dev/null || true
    ip -6 rule add pref "$pref" iif "$gwi" lookup "$table" 2>/dev/null || true
    ip -6 route replace default dev "$gwo" table "$table" 2>/dev/null || true
    nft_file=${GWLBD_RECIPE_NFT:-/etc/gwlbd/recipes/route-back.nft}
    [ -f "$nft_file" ] || nft_file="$here/route-back.nft"
    if [ -f "$nft_file" ] && command -v nft >/dev/null 2>&1; then
        nft -f "$nft_file"
        echo "route-back: loaded $nft_file"
    fi
    ;;
DESTROY)
    echo "route-back: removing $gwi -> $gwo (table $table)"
    ip -4 rule del pref "$pref" iif "$gwi" 2>/dev/null || true
    ip -4 route flush table "$table" 2>/dev/null || true
    ip -6 rule del pref "$pref" iif "$gwi" 2>/dev/null || true
    ip -6 route flush table "$table" 2>/dev/null || true
    ;;
*)
    echo "usage: $0 CREATE|DESTROY gwi-X gwo-X ENI" >&2
    exit 2
    ;;
esac
