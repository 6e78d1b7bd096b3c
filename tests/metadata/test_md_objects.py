"""Every object, through real HTTP on SQLite and PostgreSQL, generated from the object table:
PUT a realistic record (its parents exist), GET it back in the spec's JSON shape, filter it
with each operator family, update it with POST, soft-delete it, see it hidden and then shown
with ``deleted=``, and remove it with ``force``.

The expected JSON keys are transcribed from the spec here, independently of the code's table.
"""
import hashlib
from urllib.parse import urlencode

import pytest

from pacifica.metadata.objects import BY_NAME, OBJECTS

DS = '5f0a1e7c-0f4e-4c43-9c59-7bd2d3f5c0a1'
TU = '9b1c7a0e-3f1d-4b8e-8f0a-1d2c3b4a5e6f'
DOI = '10.5555/world'

# The parents every sample record points at, PUT once per server in dependency order.
WORLD = [
    ('journals', {'_id': 1, 'name': 'Journal of Data', 'impact_factor': 2.5,
                  'website_url': 'https://jd.example'}),
    ('users', [{'_id': 10, 'first_name': 'David\u00e9', 'last_name': 'Brown',
                'network_id': 'DMLB2001', 'email_address': 'David.Brown@pnnl.gov'},
               {'_id': 11, 'first_name': 'Eve', 'last_name': 'Adams'}]),
    ('institutions', {'_id': 20, 'name': 'PNNL', 'association_cd': 'PNL'}),
    ('projects', {'_id': '1234a', 'title': 'Project A', 'submitted_date': '2017-07-15T00:00:00',
                  'accepted_date': '2017-07-16'}),
    ('instruments', {'_id': 54, 'name': 'NMR', 'display_name': 'NMR 900', 'name_short': 'nmr',
                     'active': True}),
    ('citations', {'_id': 30, 'journal': 1, 'article_title': 'An article', 'journal_volume': 3}),
    ('contributors', {'_id': 40, 'user': 10, 'institution': 20, 'first_name': 'David'}),
    ('datasets', {'_id': 50, 'display_name': 'Dataset A', 'description': 'first'}),
    ('data_sources', {'uuid': DS, 'name': 'beamline', 'uri': 'https://ds.example'}),
    ('keywords', {'_id': 60, 'keyword': 'proteomics'}),
    ('groups', {'_id': 0, 'name': 'admin', 'is_admin': True}),
    ('analytical_tools', {'_id': 70, 'name': 'peak finder'}),
    ('transactions', {'_id': 67, 'description': 'an upload'}),
    ('files', {'_id': 103, 'name': 'a.txt', 'subdir': 'data', 'hashsum': 'ab12',
               'size': 10, 'transaction': 67, 'mimetype': 'text/plain'}),
    ('keys', {'_id': 104, 'key': 'temperature'}),
    ('values', {'_id': 105, 'value': '300K'}),
    ('transaction_user', {'uuid': TU, 'user': 10, 'transaction': 67,
                          'relationship_name': 'authorized_releaser'}),
    ('doi_entries', {'doi': DOI, 'site_url': 'https://doi.example/w', 'creator': 10}),
    ('doi_authors', {'_id': 80, 'first_name': 'Ann', 'last_name': 'Author'}),
]

# name: (sample record, spec GET keys after created/updated/deleted/_id, spec reverse names)
SPEC = {
    'journals': ({'_id': 1001, 'name': 'J2', 'impact_factor': 1.25, 'website_url': 'u'},
                 'name impact_factor website_url encoding', 'citations'),
    'users': ({'_id': 1002, 'first_name': 'Zoe', 'middle_initial': 'Q', 'last_name': 'Z',
               'network_id': 'ZQZ', 'email_address': 'Zoe@Example.org'},
              'first_name middle_initial last_name network_id email_address encoding',
              'contributions institutions instruments projects datasets groups transactions '
              'dois_created transsip transsap'),
    'institutions': ({'_id': 1003, 'name': 'Uni', 'association_cd': 'UNI', 'is_foreign': 'yes'},
                     'name association_cd is_foreign encoding', 'contributors users'),
    'projects': ({'_id': 'p-1004', 'title': 'Proj', 'short_name': 'pj', 'abstract': 'abs',
                  'science_theme': 'bio', 'project_type': 'user',
                  'submitted_date': '2018-01-02T03:04:05', 'closed_date': '2019-02-03'},
                 'title short_name science_theme project_type submitted_date abstract '
                 'actual_start_date accepted_date actual_end_date closed_date suspense_date '
                 'encoding', 'groups instruments users citations datasets atools transsip '
                             'transsap'),
    'instruments': ({'_id': 1005, 'name': 'EM', 'display_name': 'EM 1', 'name_short': 'em',
                     'active': False}, 'name display_name name_short active encoding',
                    'custodians projects groups metadata transsip data_sources'),
    'citations': ({'_id': 1006, 'journal': 1, 'article_title': 'T', 'journal_volume': 2,
                   'journal_issue': 1, 'page_range': '1-2', 'abstract_text': 'a',
                   'xml_text': '<x/>', 'release_authorization_id': 'r', 'doi_reference': 'd'},
                  'article_title abstract_text xml_text journal journal_volume journal_issue '
                  'page_range doi_reference release_authorization_id encoding',
                  'keywords authors projects release_entries doi_entries'),
    'contributors': ({'_id': 1007, 'user': 11, 'institution': 20, 'first_name': 'Eve',
                      'last_name': 'Adams', 'dept_code': 'D1'},
                     'first_name middle_initial last_name dept_code user institution encoding',
                     'citations'),
    'datasets': ({'_id': 1008, 'display_name': 'DS', 'description': 'x',
                  'suspense_date': '2020-01-01'}, 'display_name description suspense_date',
                 'datasets userprojects'),
    'relationships': ({'uuid': 'c0ffee00-0000-4000-8000-000000000009', 'name': 'sample_rel',
                       'display_name': 'Sample', 'description': 'a test relationship'},
                      'uuid name display_name description encoding',
                      'institution_user instrument_user project_user dataset_project_user '
                      'transaction_user relationship instrument_kvp instrument_data_source'),
    'data_sources': ({'uuid': 'c0ffee00-0000-4000-8000-000000000010', 'name': 'ds2',
                      'uri': 'file:///x', 'display_name': 'DS 2'},
                     'uuid name uri display_name description encoding', 'instruments'),
    'keywords': ({'_id': 1011, 'keyword': 'kw'}, 'keyword encoding', 'citations'),
    'groups': ({'_id': 1012, 'name': 'users', 'display_name': 'Users', 'is_admin': 'false'},
               'name display_name description encoding is_admin',
               'projects members instrument_members'),
    'analytical_tools': ({'_id': 1013, 'name': 'fitter'}, 'name encoding',
                         'projects transactions transsap'),
    'instrument_user': ({'uuid': 'c0ffee00-0000-4000-8000-000000000014', 'instrument': 54,
                         'user': 10, 'relationship_name': 'custodian'},
                        'uuid instrument user relationship', ''),
    'institution_user': ({'uuid': 'c0ffee00-0000-4000-8000-000000000015', 'user': 10,
                          'institution': 20, 'relationship_name': 'member_of'},
                         'uuid user institution relationship', ''),
    'citation_contributor': ({'citation': 30, 'author': 40, 'author_precedence': 2},
                             'citation author author_precedence', ''),
    'citation_keyword': ({'citation': 30, 'keyword': 60}, 'citation keyword', ''),
    'project_instrument': ({'uuid': 'c0ffee00-0000-4000-8000-000000000018',
                            'project': '1234a', 'instrument': 54,
                            'relationship_name': 'member_of'},
                           'uuid instrument project relationship', ''),
    'project_user': ({'uuid': 'c0ffee00-0000-4000-8000-000000000019', 'user': 10,
                      'project': '1234a', 'relationship_name': 'principal_investigator'},
                     'uuid user project relationship', ''),
    'project_group': ({'group': 0, 'project': '1234a'}, 'group project', ''),
    'citation_project': ({'citation': 30, 'project': '1234a'}, 'citation project', ''),
    'transactions': ({'_id': 1022, 'description': 'second', 'suspense_date': '2021-05-06'},
                     'description suspense_date',
                     'files metadata atools users transsip transsap'),
    'transsip': ({'_id': 67, 'submitter': 10, 'instrument': 54, 'project': '1234a'},
                 'submitter instrument project', ''),
    'transsap': ({'_id': 67, 'submitter': 10, 'analytical_tool': 70, 'project': '1234a'},
                 'submitter analytical_tool project', ''),
    'files': ({'_id': 1025, 'name': 'b.dat', 'subdir': 'raw', 'ctime': '2017-07-15T01:02:03',
               'mtime': '2017-07-15T04:05:06', 'hashsum': 'ff00', 'hashtype': 'sha1',
               'size': 12345678901, 'transaction': 67, 'mimetype': 'application/octet-stream'},
              'name subdir mimetype ctime mtime transaction size hashsum hashtype '
              'suspense_date encoding', 'files metadata'),
    'keys': ({'_id': 1026, 'key': 'pressure', 'display_name': 'Pressure'},
             'key display_name description encoding', 'file_links trans_links instrument_links'),
    'values': ({'_id': 1027, 'value': '1 atm', 'display_name': 'One'},
               'value display_name description encoding',
               'file_links trans_links instrument_links'),
    'file_key_value': ({'file': 103, 'key': 104, 'value': 105}, 'file key value', ''),
    'trans_key_value': ({'transaction': 67, 'key': 104, 'value': 105},
                        'transaction key value', ''),
    'user_group': ({'user': 10, 'group': 0}, 'user group', ''),
    'dataset_file': ({'dataset': 50, 'file': 103}, 'dataset file', ''),
    'dataset_project_user': ({'uuid': 'c0ffee00-0000-4000-8000-000000000032', 'dataset': 50,
                              'user': 10, 'project': '1234a',
                              'relationship_name': 'member_of'},
                             'uuid dataset user project relationship', ''),
    'instrument_group': ({'instrument': 54, 'group': 0}, 'instrument group', ''),
    'atool_project': ({'project': '1234a', 'analytical_tool': 70},
                      'project analytical_tool', ''),
    'atool_transaction': ({'transaction': 67, 'analytical_tool': 70},
                          'transaction analytical_tool', ''),
    'transaction_user': ({'uuid': 'c0ffee00-0000-4000-8000-000000000036', 'user': 11,
                          'transaction': 67, 'relationship_name': 'authorized_releaser'},
                         'uuid relationship transaction user', 'doi_releases citations'),
    'doi_entries': ({'doi': '10.5555/sample', 'status': 'pending', 'released': True,
                     'site_url': 'https://doi.example/s', 'creator': 10},
                    'doi status released site_url creator encoding',
                    'transactions doi_citations authors metadata'),
    'doi_authors': ({'_id': 1038, 'first_name': 'Bo', 'last_name': 'B', 'email': 'b@x',
                     'orcid': '0000-0001'}, 'last_name first_name email affiliation orcid',
                    'doi_authorships'),
    'doi_transaction': ({'doi': DOI, 'transaction': TU}, 'doi transaction', ''),
    'citation_transaction': ({'citation': 30, 'transaction': TU}, 'transaction citation', ''),
    'citation_doi': ({'citation': 30, 'doi': DOI}, 'doi citation', ''),
    'doi_author_mapping': ({'author': 80, 'doi': DOI, 'author_order': 1},
                           'author doi author_order', ''),
    'doi_info': ({'doi': DOI, 'key': 'title', 'value': 'World'}, 'doi key value', ''),
    'instrument_data_source': ({'instrument': 54, 'data_source': DS,
                                'relationship_name': 'upload_required'},
                               'instrument data_source relationship', ''),
    'instrument_key_value': ({'instrument': 54, 'key': 104, 'value': 105,
                              'relationship_name': 'upload_required'},
                             'instrument key value relationship', ''),
}

# rule H key orders, from the spec's per-object sections
HASH_ORDER = {
    'citation_contributor': 'citation author', 'citation_keyword': 'citation keyword',
    'project_group': 'project group', 'citation_project': 'citation project',
    'file_key_value': 'key file value', 'trans_key_value': 'key transaction value',
    'user_group': 'user group', 'dataset_file': 'dataset file',
    'instrument_group': 'group instrument', 'atool_project': 'project analytical_tool',
    'atool_transaction': 'transaction analytical_tool', 'doi_transaction': 'doi transaction',
    'citation_transaction': 'transaction citation', 'citation_doi': 'citation doi',
    'doi_author_mapping': 'author doi author_order', 'doi_info': 'doi key',
    'instrument_data_source': 'instrument data_source relationship',
    'instrument_key_value': 'key instrument value relationship',
}
UUID_TABLES = {'relationships', 'data_sources', 'instrument_user', 'institution_user',
               'project_instrument', 'project_user', 'dataset_project_user',
               'transaction_user'}


def test_spec_covers_every_object():
    assert [o.name for o in OBJECTS] == list(SPEC)
    assert len(OBJECTS) == 45


@pytest.fixture(scope='module')
def api(md_api):
    """The module's server with the parent records in place."""
    for name, body in WORLD:
        md_api.ok('PUT', name, body=body)
    return md_api


def _expected(name, record):
    """What GET should show for the fields the sample gave."""
    out = {}
    for key, value in record.items():
        if key == 'relationship_name':
            continue
        if name == 'users' and key in ('network_id', 'email_address'):
            value = value.lower()
        if key in ('is_foreign', 'is_admin') and isinstance(value, str):
            value = value in ('yes', 'true')
        out[key] = value
    return out


def _key_query(name, record):
    """Parameters that select exactly the sample record."""
    if '_id' in record:
        return {'_id': record['_id']}
    if name in UUID_TABLES:
        return {'uuid': record['uuid']}
    if name == 'doi_entries':
        return {'doi': record['doi']}
    return {f.name: record[f.name] for f in BY_NAME[name].pk_fields if f.name in record}


def _q(params):
    return urlencode(params, doseq=True)


def _check_shape(name, item, record, depth):
    keys, reverse = SPEC[name][1].split(), SPEC[name][2].split()
    head = ['created', 'updated', 'deleted', '_id']
    assert list(item)[:4] == head
    assert list(item)[4 + (len(reverse) if depth else 0):] == keys
    if depth:
        assert set(list(item)[4:4 + len(reverse)]) == set(reverse)
        for rev in reverse:
            assert item[rev] == [] or isinstance(item[rev], list)
    for stamp in ('created', 'updated'):
        assert len(item[stamp]) == 19 and item[stamp][10] == 'T'
    for key, value in _expected(name, record).items():
        if key == '_id':
            assert item['_id'] == value
        else:
            assert item[key] == value, key
    if name in HASH_ORDER:
        text = ''.join(str(item[k]) for k in HASH_ORDER[name].split())
        assert item['_id'] == hashlib.md5(text.encode()).hexdigest()
    elif name in UUID_TABLES or name == 'doi_entries':
        text = item['created'] + item['updated'] + str(item['deleted'])
        assert item['_id'] == hashlib.md5(text.encode()).hexdigest()


def _is_uuid(field):
    return 'UUID' in type(getattr(field, 'rel_field', None) or field).__name__


def _operator_checks(api, name, key, item):
    """One filter per operator family: comparison, between, in/not_in, ne, like, alias."""
    obj = BY_NAME[name]
    created = item['created']
    assert len(api.get(name, _q(dict(key, created=created, created_operator='gte')))) == 1
    assert api.get(name, _q(dict(key, created=created, created_operator='lt'))) == []
    assert len(api.get(name, _q(dict(key, updated='x', updated_operator='between',
                                     updated_0=created[:10], updated_1='9999-01-01')))) == 1
    plain = [f for f in obj.filter_fields if f in item and f != 'relationship'
             and not f.endswith('date') and f not in ('ctime', 'mtime')]
    field = plain[0]
    value = item[field]
    if isinstance(value, bool):
        value = str(value).lower()
    other = 'zz-no-match' if isinstance(value, str) else 987654
    if _is_uuid(obj.fields[field]):
        other = '00000000-0000-4000-8000-000000000000'
    base = {k: v for k, v in key.items() if k != field}
    assert len(api.get(name, _q(dict(base, **{field: [value, other],
                                              field + '_operator': 'in'})))) == 1
    for op, given in (('not_in', [value, other]), ('ne', value)):
        rows = api.get(name, _q(dict(base, **{field: given, field + '_operator': op})))
        assert all(row[field] != item[field] for row in rows), op
    assert len(api.get(name, _q(dict(base, **{field + '_id': value})))) == 1
    texts = [f for f in plain if isinstance(item[f], str) and item[f]
             and not _is_uuid(obj.fields[f])]
    for tfield in texts[:1]:
        tbase = {k: v for k, v in key.items() if k != tfield}
        pattern = item[tfield][:-1] + '%'
        assert len(api.get(name, _q(dict(tbase, **{tfield: pattern,
                                                   tfield + '_operator': 'like'})))) == 1
        assert len(api.get(name, _q(dict(tbase, **{tfield: pattern.upper(),
                                                   tfield + '_operator': 'ilike'})))) == 1


def _update_body(name, record):
    body = {'created': '2020-01-02T03:04:05'}
    obj = BY_NAME[name]
    pk = {f.name for f in obj.pk_fields}
    for field, value in record.items():
        if field in obj.fields and field not in pk and isinstance(value, str) \
                and type(obj.fields[field]).__name__ in ('CharField', 'TextField') \
                and field not in ('network_id', 'email_address'):
            body[field] = 'changed ' + field
            break
    return body


@pytest.mark.parametrize('name', [o.name for o in OBJECTS])
def test_object_lifecycle(api, name):
    record = SPEC[name][0]
    key = _key_query(name, record)
    api.ok('PUT', name, body=record)

    found = api.get(name, _q(dict(key, recursion_depth=0)))
    assert len(found) == 1, found
    _check_shape(name, found[0], record, depth=0)
    deep = api.get(name, _q(key))
    _check_shape(name, deep[0], record, depth=1)

    _operator_checks(api, name, key, found[0])

    body = _update_body(name, record)
    api.ok('POST', name, _q(key), body)
    after = api.get(name, _q(dict(key, recursion_depth=0)))[0]
    for field, value in body.items():
        assert after[field] == value
    assert after['updated'] >= found[0]['updated']

    api.ok('DELETE', name, _q(key))
    assert api.get(name, _q(key)) == []
    shown = api.get(name, _q(dict(key, deleted='')))
    assert len(shown) == 1 and shown[0]['deleted'] is not None
    assert len(api.get(name, _q(dict(key, deleted=shown[0]['deleted'])))) == 1

    api.ok('DELETE', name, _q(dict(key, deleted='', force='true')))
    assert api.get(name, _q(dict(key, deleted=''))) == []
