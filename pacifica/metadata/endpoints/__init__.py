"""The query endpoints of the metadata service (the "metadata queries" spec): thin CherryPy
resources over :mod:`pacifica.metadata.queries`, mounted beside the generic objects."""
import zoneinfo

from pacifica.common.config import ConfigError

from .ingest import Ingest
from .misc import doiupload, fileinfo, migration, objectinfo, tkvinfo, tkvupload
from .people import instrumentinfo, projectinfo, userinfo
from .transactions import summaryinfo, transactioninfo

DEFAULT_ZONE = 'America/Los_Angeles'


def reporting_zone(config):
    """The configured reporting zone; a bad name stops start-up with the key named."""
    name = config.get('reporting', 'timezone') if config is not None else DEFAULT_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError('reporting.timezone = {!r} is not an IANA time zone'.format(
            name)) from None


def mount(root, notifier, config=None):
    """Hang every query endpoint on ``root``."""
    zone = reporting_zone(config)
    root.ingest = Ingest(notifier)
    root.userinfo = userinfo()
    root.projectinfo = projectinfo()
    root.instrumentinfo = instrumentinfo()
    root.transactioninfo = transactioninfo(zone)
    root.summaryinfo = summaryinfo(zone)
    root.objectinfo = objectinfo()
    root.fileinfo = fileinfo()
    root.tkvinfo = tkvinfo()
    root.tkvupload = tkvupload()
    root.doiupload = doiupload(notifier)
    root.migrate = migration()
