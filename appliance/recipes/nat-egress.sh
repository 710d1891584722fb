#!/bin/sh
# gwlbd recipe "nat-egress" (two-arm): traffic entering gwi-X leaves the uplink with
# source NAT (masquerade); conntrack marks the replies, which are routed back out of
# gwo-X, so they return through the tunnel to the original client.
# Hook arguments (gwlbtun's): CREATE|DESTROY gwi-X gwo-X <endpoint id hex>
# Environment: GWLBD_UPLINK  the uplink interface (default: the default route's)
# Needs nftables. The instance needs source/destination check disabled.
set -eu
action=$1 gwi=$2 gwo=$3 eni=$4
suffix=${gwi#gwi-}
table=$(( $(printf '%s' "$eni" | cksum | cut -d ' ' -f 1) % 1000000 + 100000 ))
mark=$table
pref=${GWLBD_RULE_PREF:-100}
uplink=${GWLBD_UPLINK:-$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')}
nft_table="gwlbd_nat_$suffix"

case "$action" in
CREATE)
    if [ -z "$uplink" ]; then
        echo "nat-egress: no uplink (no default route and GWLBD_UPLINK unset)" >&2
        exit 1
    fi
    echo "nat-egress: $gwi -> $uplink (masquerade), replies -> $gwo (mark $mark)"
    nft -f - <<NFT
table inet $nft_table
delete table inet $nft_table
table inet $nft_table {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        iifname "$gwi" ct state new ct mark set $mark
        ct direction reply ct mark $mark meta mark set $mark
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        ct mark $mark oifname "$uplink" masquerade
    }
}
NFT
    for family in -4 -6; do
        ip "$family" rule del pref "$pref" fwmark "$mark" 2>/dev/null || true
        ip "$family" rule add pref "$pref" fwmark "$mark" lookup "$table" 2>/dev/null || true
        ip "$family" route replace default dev "$gwo" table "$table" 2>/dev/null || true
    done
    ;;
DESTROY)
    echo "nat-egress: removing $gwi (mark $mark)"
    nft delete table inet "$nft_table" 2>/dev/null || true
    for family in -4 -6; do
        ip "$family" rule del pref "$pref" fwmark "$mark" 2>/dev/null || true
        ip "$family" route flush table "$table" 2>/dev/null || true
    done
    ;;
*)
    echo "usage: $0 CREATE|DESTROY gwi-X gwo-X ENI" >&2
    exit 2
    ;;
esac
