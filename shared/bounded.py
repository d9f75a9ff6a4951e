"""A per-process memory of limited size: the newest entries stay, the oldest go first."""

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class BoundedDict(OrderedDict):
    """An OrderedDict of at most `limit` entries; `keep` stores thread-safely as newest."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit
        self._lock = threading.Lock()

    def keep(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self[key] = value
            self.move_to_end(key)
            while len(self) > self.limit:
                self.popitem(last=False)
