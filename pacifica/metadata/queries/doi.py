"""``/doiupload`` (spec 11): register DOIs for released transactions and take OSTI's
status updates.

Section 18 fixes: the owner is the user whose ``network_id`` equals ``owner_network_id``
(not the last fuzzy-search hit), a release is a live ``authorized_releaser`` row, every
request is one transaction (a bad item writes nothing), a changed ``minting_api_id`` is an
update (not a key clash), list values of any type are joined, and a missing
``<creatorsblock>`` or an empty date element is simply absent data.
"""
import xml.etree.ElementTree as ElementTree

from dateutil import parser as date_parser

from ..events import DocumentEvent
from ..orm import (DOIAuthorMapping, DOIAuthors, DOIEntries, DOIInfo, DOITransaction,
                   Relationships, TransactionUser, Users, utc_now)
from .blocks import live
from .reasons import fail
from .transactions import RELEASER, whole_number
from .write import transaction

MAX_TEXT = 255
AUTHOR_FIELDS = (('first_name', 'first_name'), ('last_name', 'last_name'),
                 ('affiliation_name', 'affiliation'), ('private_email', 'email'),
                 ('orcid_id', 'orcid'))


def _text(value):
    if isinstance(value, list):
        return ', '.join(str(item) for item in value)
    return str(value)


def _item(item, index):
    where = 'item {}'.format(index)
    if not isinstance(item, dict):
        fail(400, 'Bad Request', '{} is not a JSON object'.format(where))
    for name in ('doi', 'owner_network_id', 'meta'):
        if name not in item:
            fail(400, 'Bad Request', '{} has no {!r}'.format(where, name))
    meta = item['meta']
    if not isinstance(meta, dict) or not isinstance(meta.get('doi_infix'), str):
        fail(400, 'Bad Request', '{}: meta must be an object with a doi_infix'.format(where))
    if not isinstance(item['doi'], str) or not item['doi'] or len(item['doi']) > MAX_TEXT:
        fail(400, 'Bad Request', '{}: doi must be a non-empty string'.format(where))
    tid = whole_number(meta['doi_infix'].rsplit('.', 1)[-1])
    if tid is None:
        fail(400, 'Bad Request', '{}: doi_infix {!r} does not end in a transaction id'.format(
            where, meta['doi_infix']))
    info = {key: _text(value) for key, value in meta.items() if key != 'authors' and value}
    info['minting_api_id'] = str(item.get('id'))
    for key, value in info.items():
        if len(value) > MAX_TEXT or len(key) > MAX_TEXT:
            fail(400, 'Bad Request', '{}: meta {!r} is longer than {} characters'.format(
                where, key, MAX_TEXT))
    return {'doi': item['doi'], 'owner': str(item['owner_network_id']).lower(), 'tid': tid,
            'site_url': str(meta.get('site_url') or ''), 'info': info}


def upsert_info(doi, info, now):
    """Create the ``(doi, key)`` rows, or change a value (and ``updated``) only when the
    value differs (a no-op save was a 500 on newer peewee, spec 11.1)."""
    current = {key: value for key, value in DOIInfo.select(DOIInfo.key, DOIInfo.value).where(
        DOIInfo.doi == doi).tuples()}
    new = [{'doi': doi, 'key': key, 'value': value, 'created': now, 'updated': now}
           for key, value in info.items() if key not in current]
    if new:
        DOIInfo.insert_many(new).execute()
    for key, value in info.items():
        if key in current and current[key] != value:
            DOIInfo.update(value=value, updated=now, deleted=None).where(
                (DOIInfo.doi == doi) & (DOIInfo.key == key)).execute()


def new_entry(body):
    """``POST /doiupload/new_entry``: the entries and whether each link was new, and the
    event to send after the commit."""
    items = body if isinstance(body, list) else [body]
    parsed = [_item(item, index) for index, item in enumerate(items)]
    now = utc_now()
    result = []
    with transaction():
        for item in parsed:
            owner = Users.select(Users.id).where(
                (Users.network_id == item['owner']) & live(Users)).order_by(Users.id).scalar()
            if owner is None:
                fail(404, 'No Valid Users Located',
                     'No user entries were retrieved using the terms: {!r}'.format(
                         item['owner']))
            release = (TransactionUser.select(TransactionUser.uuid).join(Relationships)
                       .where((TransactionUser.transaction == item['tid']) &
                              live(TransactionUser) & (Relationships.name == RELEASER))
                       .order_by(TransactionUser.created).scalar())
            if release is None:
                fail(400, 'Bad Request',
                     'Transaction {} has not been released'.format(item['tid']))
            if not DOIEntries.select().where(DOIEntries.doi == item['doi']).exists():
                DOIEntries.insert(doi=item['doi'], status='pending', released=False,
                                  site_url=item['site_url'], creator=owner, encoding='UTF8',
                                  created=now, updated=now).execute()
            upsert_info(item['doi'], item['info'], now)
            created = not DOITransaction.select().where(
                DOITransaction.doi == item['doi']).exists()
            if created:
                DOITransaction.insert(doi=item['doi'], transaction=release, created=now,
                                      updated=now).execute()
            result.append({'entry': item['doi'], 'was_created': created})
    return result, DocumentEvent('doientry', result)


def _date(text):
    if text.strip().lower() == 'none':
        return text
    try:
        return date_parser.parse(text).strftime('%Y-%m-%d')
    except (ValueError, OverflowError):
        fail(400, 'Bad Request', 'Bad Request: {!r} is not a date'.format(text))


def _fits(what, text):
    """Refuse text longer than its varchar(255) column (PostgreSQL would fail the whole
    request, SQLite would store it whole)."""
    if text is not None and len(text) > MAX_TEXT:
        fail(400, 'Bad Request', 'Bad Request: {} is {} characters long; the limit is '
             '{}'.format(what, len(text), MAX_TEXT))


def _parse_osti(raw):
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError:
        fail(400, 'Bad Request', 'Bad Request: Invalid XML Document')
    record = root.find('record')
    if whole_number(root.get('numfound', '0')) in (None, 0) or record is None:
        fail(404, 'Not Found', 'No DOI Entries found in this XML')
    doi_node = record.find('doi')
    if doi_node is None or not (doi_node.text or '').strip():
        fail(400, 'Bad Request', 'Bad Request: the record has no <doi>')
    authors = []
    block = record.find('creatorsblock')
    if block is not None:
        record.remove(block)
        for detail in block.findall('creators_detail'):
            author = {}
            for tag, field in AUTHOR_FIELDS:
                node = detail.find(tag)
                author[field] = (node.text or '').strip() if node is not None else None
            author['first_name'] = author['first_name'] or ''
            author['last_name'] = author['last_name'] or ''
            for tag, field in AUTHOR_FIELDS:
                _fits('<{}>'.format(tag), author[field])
            authors.append(author)
    info = {}
    for child in record:
        text = (child.text or '').strip()
        if not text:
            continue
        _fits('the element name <{}...>'.format(child.tag[:20]), child.tag)
        info[child.tag] = _date(text) if 'date' in child.tag else text[:MAX_TEXT]
    _fits('the status attribute', record.get('status'))
    return {'doi': doi_node.text.strip(), 'status': (record.get('status') or '').lower(),
            'released': (record.get('released') or '').lower() == 'y',
            'authors': authors, 'info': info}


def update(raw):
    """``POST /doiupload/update``: apply the first OSTI record; the DOI and the event."""
    record = _parse_osti(raw)
    doi = record['doi']
    now = utc_now()
    with transaction():
        if not DOIEntries.select().where((DOIEntries.doi == doi) & live(DOIEntries)).exists():
            fail(404, 'Not Found', 'DOI Entry {} does not exist'.format(doi))
        for order, author in enumerate(record['authors'], 1):
            where = None
            for field, value in author.items():
                column = getattr(DOIAuthors, field)
                clause = column.is_null() if value is None else column == value
                where = clause if where is None else where & clause
            author_id = DOIAuthors.select(DOIAuthors.id).where(where).order_by(
                DOIAuthors.id).scalar()
            if author_id is None:
                author_id = DOIAuthors.insert(created=now, updated=now, **author).execute()
            if not DOIAuthorMapping.select().where(
                    (DOIAuthorMapping.author == author_id) &
                    (DOIAuthorMapping.doi == doi)).exists():
                DOIAuthorMapping.insert(author=author_id, doi=doi, author_order=order,
                                        created=now, updated=now).execute()
        DOIEntries.update(status=record['status'], released=record['released'],
                          updated=now).where(DOIEntries.doi == doi).execute()
        upsert_info(doi, record['info'], now)
    return doi, DocumentEvent('doiupdate', doi, {'doi': doi})


def update_modified_time(body):
    """``POST /doiupload/update_modified_time``: touch the listed DOIs."""
    if not isinstance(body, list) or not all(isinstance(doi, str) for doi in body):
        fail(400, 'Bad Request', 'the body must be a JSON array of DOI strings')
    if not body:
        return {'num_records_updated': 0}
    with transaction():
        count = DOIEntries.update(updated=utc_now()).where(
            DOIEntries.doi.in_(sorted(set(body))) & live(DOIEntries)).execute()
    return {'num_records_updated': count}
