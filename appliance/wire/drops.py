"""Why a datagram was dropped: one closed set of reasons, used as counter labels."""

from __future__ import annotations

import enum


class DropReason(enum.Enum):
    """Every reason the data plane drops a datagram.

    The value is the stable label used in ``/status`` ``drops`` and in the
    ``gwlbd_drops_total{reason=...}`` metric; never rename a value.
    """

    SOURCE_NOT_ALLOWED = "source_not_allowed"
    """The outer source address is not in a configured GWLB CIDR."""
    TOO_SHORT = "too_short"
    """Shorter than the GENEVE base header, or options run past the end."""
    BAD_VERSION = "bad_version"
    """GENEVE version is not 0."""
    OAM = "oam"
    """O bit set: a control packet, whose payload is never forwarded."""
    BAD_OPTION_LENGTH = "bad_option_length"
    """Options do not add up to OptLen, or one runs past it."""
    UNKNOWN_CRITICAL_OPTION = "unknown_critical_option"
    """An option with the critical bit set that we do not understand."""
    MISSING_GWLB_OPTION = "missing_gwlb_option"
    """One of the three AWS options (endpoint, attachment, cookie) is absent or malformed."""
    BAD_PROTOCOL_TYPE = "bad_protocol_type"
    """Protocol Type is neither IPv4 (0x0800) nor IPv6 (0x86DD)."""
    INNER_MALFORMED = "inner_malformed"
    """The inner IP packet is truncated, has the wrong version or bad lengths."""
    POLICY = "policy"
    """The policy decided drop (or reject) for the packet's flow."""
    NO_FLOW = "no_flow"
    """A packet from the kernel (tun mode) that belongs to no flow known from the GWLB."""
    MID_FLOW = "mid_flow"
    """A mid-flow packet of an unknown flow, refused by the mid-flow setting."""
    SEND_FAILED = "send_failed"
    """The reply could not be sent (socket buffer full, route missing)."""
    DRAINING = "draining"
    """Reserved: the appliance is stopping and no longer forwards."""
