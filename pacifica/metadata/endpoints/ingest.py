"""``PUT /ingest`` (spec 13)."""
from ..body import MAX_INGEST_OBJECTS
from ..queries import ingest as ingest_queries
from .base import Leaf, args, body, endpoint


class Ingest(Leaf):
    """Store one upload; events go out after the commit."""

    # an upload's document has one object per file and pair: a larger bound than elsewhere
    _cp_config = {'tools.metadata_json_in.on': True,
                  'tools.metadata_json_in.max_objects': MAX_INGEST_OBJECTS}

    def __init__(self, notifier):
        self.notifier = notifier

    @endpoint
    def PUT(self, vpath, params):  # pylint: disable=invalid-name,unused-argument
        """``{"status": "success"}`` once the whole document is stored."""
        args(vpath, params)   # no path segments
        for event in ingest_queries.ingest(body()):
            self.notifier.publish(event)
        return {'status': 'success'}
