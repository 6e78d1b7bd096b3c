"""UniqueID's configuration keys (``[database]`` only, as upstream)."""
from pacifica.common.config import DATABASE_KEYS

KEYS = DATABASE_KEYS
