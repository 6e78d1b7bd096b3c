"""``PUT /ingest`` (spec 13)."""
from ..body import MAX_INGEST_OBJECTS
from ..queries import ingest as ingest_queries
from . import declare as d
from .base import Leaf, body, endpoint


class Ingest(Leaf):
    """Store one upload; events go out after the commit."""

    # an upload's document has one object per file and pair: a larger bound than elsewhere
    _cp_config = {'tools.metadata_json_in.on': True,
                  'tools.metadata_json_in.max_objects': MAX_INGEST_OBJECTS}
    bodies = {'PUT': d.INGEST}
    answers = {'PUT': d.SUCCESS}

    def __init__(self, notifier):
        self.notifier = notifier

    @endpoint
    def PUT(self, vpath, params):  # pylint: disable=invalid-name
        """``{"status": "success"}`` once the whole document is stored."""
        self.read(vpath, params, 'PUT')   # no path segments
        for event in ingest_queries.ingest(body()):
            self.notifier.publish(event)
        return {'status': 'success'}
