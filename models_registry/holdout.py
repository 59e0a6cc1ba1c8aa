"""The fixed held-out split: a fifth of the human-labeled items that training never sees.

Membership depends on the item's id alone, so an item stays on its side of the split for good:
every model version of a project is judged on held-out items none of them was trained on, and
a challenger and the champion can be compared on exactly the same items.
"""
from __future__ import annotations

import hashlib

HOLDOUT_SHARE = 0.2


def is_held_out(item_id: int) -> bool:
    digest = hashlib.blake2b(str(item_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < HOLDOUT_SHARE
