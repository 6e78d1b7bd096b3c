"""The read-only query endpoints (spec 2-9, 12) against the realistic catalog of
:mod:`mq_dataset`, asserting the JSON exactly; one server per backend for the module."""
import hashlib
import subprocess
import sys
import zoneinfo

import pytest

from metadata.mq_dataset import SHA1, load
from support import assert_json_error, free_port, service_env

USER10_PROJECTS = {
    '1234a': {'id': '1234a', 'title': 'Pacifica D\u00e9velopment', 'short_name': 'pac',
              'project_type': 'user project', 'science_theme': 'g\u00e9neral'},
    '1237': {'id': '1237', 'title': 'Closed project', 'short_name': '', 'project_type': '',
             'science_theme': None},
}
USER10 = {
    'category': 'B', 'user_id': 10, 'person_id': 10, 'first_name': 'David\u00e9',
    'last_name': 'Brown\u00e9 Jr', 'network_id': 'dmlb2001',
    'email_address': 'david.brown@pnnl.gov', 'last_updated': '2019-01-02T03:04:05',
    'display_name': '[User ID 10] David\u00e9 Brown\u00e9 Jr &lt;david.brown@pnnl.gov&gt;',
    'simple_display_name': 'David\u00e9 Brown\u00e9 Jr', 'emsl_employee': True,
    'projects': USER10_PROJECTS,
}
USER10_SIMPLE = {'user_id': 10, 'person_id': 10, 'first_name': 'David\u00e9',
                 'last_name': 'Brown\u00e9 Jr', 'display_name': 'David\u00e9 Brown\u00e9 Jr',
                 'email_address': 'david.brown@pnnl.gov', 'emsl_employee': True}
USER11_SIMPLE = {'user_id': 11, 'person_id': 11, 'first_name': 'bob', 'last_name': 'Johnson',
                 'display_name': 'bob Johnson', 'email_address': 'bob@imnotreal.gov',
                 'emsl_employee': False}
P1234A = {'id': '1234a', 'title': 'Pacifica D\u00e9velopment', 'category': 'Unknown',
          'display_name': '[Project 1234a]: Pacifica D\u00e9velopment',
          'currently_active': True, 'state': 'active', 'start_date': '2013-10-01',
          'end_date': '---', 'closed_date': '---', 'science_theme': 'g\u00e9neral',
          'project_type': 'User Project'}
P1237 = {'id': '1237', 'title': 'Closed project', 'category': 2012,
         'display_name': '[Project 1237]: Closed project', 'currently_active': False,
         'state': 'closed', 'start_date': '2010-01-01', 'end_date': '2012-03-01',
         'closed_date': '2012-03-01', 'science_theme': None, 'project_type': ''}
I54 = {'id': 54, 'category': 'nmr', 'groups': ['nmr'],
       'display_name': '[nmr / ID:54] NMR PROBES: Nittany Liquid Prob\u00e9s',
       'name': 'NMR PROBES: Nittany Liquid Prob\u00e9s',
       'name_short': 'Nittany Liquid Prob\u00e9s', 'active': True}
I104 = {'id': 104, 'category': 'Miscellaneous', 'groups': [],
        'display_name': '[Miscellaneous / ID:104] Mass spec', 'name': 'Mass spec',
        'name_short': 'MS', 'active': False}


def file_json(fid, name, subdir, size, when, trans=67):
    """The file hash of a dataset file."""
    return {'created': when, 'updated': when, 'deleted': None, '_id': fid, 'name': name,
            'subdir': subdir, 'mimetype': 'text/plain', 'ctime': when, 'mtime': when,
            'transaction': trans, 'size': size, 'hashsum': SHA1, 'hashtype': 'sha1',
            'suspense_date': None, 'encoding': 'UTF8'}


F103 = file_json(103, 'b.txt', 'data/x/', 1000, '2016-11-12T21:38:21')
F104 = file_json(104, 'a.txt', 'data/x', 2000, '2016-11-13T01:00:00')
F106 = file_json(106, 'd.txt', '', 30, '2020-05-11T08:00:00', 68)
META67 = {'transaction_id': 67, 'submitter_id': 10, 'project_id': '1234a',
          'instrument_id': 54, 'file_ids': [104, 103], 'submitted': '2020-05-10T12:00:00',
          'release_date': '2020-07-01T00:00:00', 'release_state': 'released',
          'release_state_display': 'Released'}
DETAILS67 = {'submitter_name': 'David\u00e9 Brown\u00e9 Jr',
             'project_name': 'Pacifica D\u00e9velopment',
             'instrument_name': 'NMR PROBES: Nittany Liquid Prob\u00e9s',
             'files': {'104': dict(F104, key_values=[]),
                       '103': dict(F103, key_values=[{'key': 'temp_f', 'value': '27'},
                                                     {'key': 't\u00e9mp_c', 'value': '27'}])}}
STATUS67 = {'trans_id': 67, 'person_id': 10, 'step': 6, 'message': 'verified',
            'status': 'success'}


@pytest.fixture(scope='module')
def api(md_api):
    """The module's server with the catalog loaded."""
    load(md_api)
    return md_api


def md5(data):
    """Hex MD5 of ``data``."""
    return hashlib.md5(data).hexdigest()


def get(api, path, query=''):
    """GET that must answer 200 with JSON; returns the decoded body."""
    resp = api.request('GET', path, query)
    assert resp.status_code == 200, resp.text
    assert resp.headers['Content-Type'] == 'application/json'
    return resp.json()


def post(api, path, body):
    """POST a JSON body that must answer 200."""
    resp = api.request('POST', path, body=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


# -- /userinfo -----------------------------------------------------------------------------
def test_userinfo_by_id(api):
    assert get(api, 'userinfo/by_id/10') == USER10
    assert get(api, 'userinfo/by_user_id/10/') == USER10
    assert get(api, 'userinfo/by_id/10/simple') == USER10_SIMPLE
    assert get(api, 'userinfo/by_id', 'person_id=11&option=simple') == USER11_SIMPLE
    # raw text: Python's default separators, \u escapes
    assert api.request('GET', 'userinfo/by_id/11/simple').text == (
        '{"user_id": 11, "person_id": 11, "first_name": "bob", "last_name": "Johnson", '
        '"display_name": "bob Johnson", "email_address": "bob@imnotreal.gov", '
        '"emsl_employee": false}')
    assert_json_error(api.request('GET', 'userinfo/by_id/21'), 404,
                      'No User with an ID of 21 was found')
    assert_json_error(api.request('GET', 'userinfo/by_id/13'), 404)   # soft-deleted
    for bad in ('userinfo/by_id/bob', 'userinfo/by_id'):
        resp = api.request('GET', bad)
        assert_json_error(resp, 400)
        assert resp.json()['status'] == '400 Invalid Lookup Options'
        assert resp.reason == 'Invalid Lookup Options'


def test_userinfo_search(api):
    assert get(api, 'userinfo/search/d+brown') == [USER10]
    assert get(api, 'userinfo/search/dmlb2001', 'policy_param=1&user=3') == [USER10]
    assert get(api, 'userinfo/search/10/simple') == [USER10_SIMPLE]
    assert get(api, 'userinfo/search/b', 'option=simple') == [
        dict(USER10_SIMPLE), USER11_SIMPLE]  # by last name: Brown\u00e9 Jr, Johnson
    resp = api.request('GET', 'userinfo/search/d+millard')
    assert_json_error(resp, 404, "No user entries were retrieved using the terms: "
                                 "'d' and 'millard'")
    assert resp.reason == 'No Valid Users Located'
    assert api.request('GET', 'userinfo/search/gone').status_code == 404
    assert_json_error(api.request('GET', 'userinfo/search'), 400)
    assert api.request('GET', 'userinfo/search').reason == 'Invalid Request Options'
    # LIKE wildcards in a term are literal text
    assert api.request('GET', 'userinfo/search/%25').status_code == 404
    assert api.request('GET', 'userinfo/search/_').status_code == 404


# -- /projectinfo --------------------------------------------------------------------------
def test_projectinfo_by_project_id(api):
    assert get(api, 'projectinfo/by_project_id/1234a') == dict(P1234A, instruments={
        '54': {'id': 54, 'display_name': 'NMR PROBES: Nittany Liquid Prob\u00e9s',
               'name': 'NMR PROBES: Nittany Liquid Prob\u00e9s',
               'name_short': 'Nittany Liquid Prob\u00e9s', 'active': True}})
    assert get(api, 'projectinfo/by_project_id', 'project_id=1237') == dict(
        P1237, instruments={'54': {'id': 54, 'display_name': I54['name'], 'name': I54['name'],
                                   'name_short': I54['name_short'], 'active': True}})
    unicode_project = get(api, 'projectinfo/by_project_id/1236%C3%A9')
    assert unicode_project['state'] == 'pre_active' and not unicode_project['currently_active']
    assert unicode_project['instruments'] == {'104': {
        'id': 104, 'display_name': 'Mass spectrometer', 'name': 'Mass spec', 'name_short': 'MS',
        'active': False}}
    null_type = get(api, 'projectinfo/by_project_id/1235')
    assert null_type['project_type'] == '' and null_type['instruments'] == {}
    assert_json_error(api.request('GET', 'projectinfo/by_project_id/2345b'), 404,
                      'No Project with an ID of 2345b was found')
    assert_json_error(api.request('GET', 'projectinfo/by_project_id/1299'), 404)
    resp = api.request('GET', 'projectinfo/by_project_id')
    assert_json_error(resp, 400)
    assert resp.reason == 'Invalid Request Options'


def test_projectinfo_search(api):
    assert get(api, 'projectinfo/search/pac+d\u00e9vel') == [P1234A]
    assert get(api, 'projectinfo/search/1234a', 'extra=1') == [P1234A]
    assert [p['id'] for p in get(api, 'projectinfo/search/project')] == ['1237', '1236\u00e9']
    resp = api.request('GET', 'projectinfo/search/bob+uncle')
    assert_json_error(resp, 404, "No project entries were retrieved using the terms: "
                                 "'bob' and 'uncle'")
    assert resp.reason == 'No Valid Projects Located'
    assert api.request('GET', 'projectinfo/search').reason == 'No Search Terms Provided'


def test_projectinfo_by_user_id(api):
    # once each (two relationships to 1234a), by title, with science_theme
    assert get(api, 'projectinfo/by_user_id/10') == [P1237, P1234A]
    assert get(api, 'projectinfo/by_user_id/user10') == [P1237, P1234A]
    assert get(api, 'projectinfo/by_user_id/11') == []      # its only link is deleted
    resp = api.request('GET', 'projectinfo/by_user_id/bob')
    assert_json_error(resp, 400, '"bob" is not a valid user ID')
    assert resp.reason == 'Invalid User ID'
    assert_json_error(api.request('GET', 'projectinfo/by_user_id'), 400, 'No user ID specified')
    resp = api.request('GET', 'projectinfo/by_user_id/99')
    assert_json_error(resp, 404, 'No User with ID:99 exists in the system')
    assert resp.reason == 'User Does Not Exist'


def test_projectinfo_has_data(api):
    assert post(api, 'projectinfo/has_data', ['1234a', '1235', 'nope']) == {
        '1234a': [{'instrument': 54, 'end_time': '2020-05-10T12:00:00',
                   'start_time': '2020-05-10T12:00:00', 'num_results': 1}],
        '1235': [], 'nope': []}
    assert post(api, 'projectinfo/has_data', []) == {}
    assert api.request('GET', 'projectinfo/has_data').status_code == 405
    assert_json_error(api.request('POST', 'projectinfo/has_data', body={'a': 1}), 400)


# -- /instrumentinfo -----------------------------------------------------------------------
def test_instrumentinfo(api):
    assert get(api, 'instrumentinfo/by_instrument_id/54') == I54
    assert get(api, 'instrumentinfo/by_instrument_id', 'instrument_id=104') == I104
    assert_json_error(api.request('GET', 'instrumentinfo/by_instrument_id/96'), 404,
                      'No Instrument with an ID of 96 was found')
    assert_json_error(api.request('GET', 'instrumentinfo/by_instrument_id/199'), 404)
    assert api.request('GET', 'instrumentinfo/by_instrument_id/bob').reason == \
        'Invalid Request Options'
    assert get(api, 'instrumentinfo/search/nittany') == [I54]
    assert get(api, 'instrumentinfo/search/54') == [I54]
    assert api.request('GET', 'instrumentinfo/search/').text == '[]'
    assert api.request('GET', 'instrumentinfo/search').text == '[]'
    resp = api.request('GET', 'instrumentinfo/search/supercalifragilistic')
    assert_json_error(resp, 404, "No instrument entries were retrieved using the terms: "
                                 "'supercalifragilistic'")
    assert resp.reason == 'No Valid Instruments Located'
    # declared project_instrument links of the user's projects, by display_name
    assert get(api, 'instrumentinfo/by_user_id/10') == [I104, I54]
    assert api.request('GET', 'instrumentinfo/by_user_id/11').text == '[]'
    assert api.request('GET', 'instrumentinfo/by_user_id/99').reason == 'User Does Not Exist'
    assert get(api, 'instrumentinfo/categories/') == [
        {'category': 'nmr', 'instrument_list': [54]}]
    assert api.request('GET', 'instrumentinfo/categories/x').status_code == 404


# -- /transactioninfo ----------------------------------------------------------------------
def test_transactioninfo_by_id(api):
    assert get(api, 'transactioninfo/by_id/67') == dict(
        {'created': '2020-05-10T12:00:00', 'updated': '2020-05-10T12:00:00', 'deleted': None,
         '_id': 67, 'submitter': 10, 'instrument': 54, 'project': '1234a'},
        **META67, **DETAILS67, key_values={'temp_f': '27'})
    t68 = get(api, 'transactioninfo/by_id', 'trans_id=68')
    # released by a member_of row only: not released (spec 18.1)
    assert (t68['release_state'], t68['release_date']) == ('not_released', None)
    assert t68['files'] == {'106': dict(F106, key_values=[])}
    assert get(api, 'transactioninfo/by_id/69')['release_state'] == 'not_released'
    assert_json_error(api.request('GET', 'transactioninfo/by_id/747'), 404,
                      'No Transaction with an ID of 747 was found')
    assert_json_error(api.request('GET', 'transactioninfo/by_id/70'), 404)   # deleted
    for bad in ('transactioninfo/by_id/doug', 'transactioninfo/by_id'):
        assert api.request('GET', bad).reason == 'Invalid Transaction ID'


def test_transactioninfo_files_and_last(api):
    assert get(api, 'transactioninfo/files/67') == {'104': F104, '103': F103}
    assert list(get(api, 'transactioninfo/files/67')) == ['104', '103']
    assert get(api, 'transactioninfo/files/747') == {}
    assert api.request('GET', 'transactioninfo/files/doug').reason == 'Invalid Request Options'
    assert get(api, 'transactioninfo/last/') == {'latest_transaction_id': 69}


def test_transactioninfo_search(api):
    found = get(api, 'transactioninfo/search/details', 'project=1234a&end=2020-05-10'
                '&item_count=10&page=1&requesting_user=5')
    assert found == {
        'transactions': {'67': {'file_size_bytes': 3000, 'file_count': 2, 'status': STATUS67,
                                'metadata': dict(META67, **DETAILS67),
                                'kv_pairs': {'temp_f': '27'}}},
        'times': {'67': '2020-05-10T12:00:00'}, 'total_count': 1, 'items_per_page': 10,
        'page': 1, 'offset': 0}
    listed = get(api, 'transactioninfo/search/list', 'instrument=54&start=2020-05-01')
    assert list(listed['transactions']) == ['68', '67']      # id descending
    assert listed['transactions']['67']['metadata'] == META67
    assert listed['total_count'] == 2 and listed['page'] == 1
    paged = get(api, 'transactioninfo/search', 'instrument=54&item_count=1&page=2')
    assert list(paged['transactions']) == ['67'] and paged['offset'] == 1
    assert paged['total_count'] == 2 and paged['items_per_page'] == 1
    by_person = get(api, 'transactioninfo/search/list', 'person_id=11&project=-1')
    assert list(by_person['transactions']) == ['69']
    assert get(api, 'transactioninfo/search/list', 'transaction_id=70')['transactions'] == {}
    resp = api.request('GET', 'transactioninfo/search', 'time_frame=x&foo=1')
    assert resp.status_code == 200   # time_frame counts, and is ignored
    resp = api.request('GET', 'transactioninfo/search', 'foo=1')
    assert_json_error(resp, 400)
    assert resp.reason == 'Invalid Request Options'


def test_transactioninfo_multisearch(api):
    expected = {'67': {'upload_id': '67', 'upload_date': '2020-05-10',
                       'file_date_start': '2016-11-12', 'file_date_end': '2016-11-12',
                       'uploaded_by_id': 10, 'bundle_size': 3000, 'file_count': 2,
                       'upload_datetime': '2020-05-10 05:00:00', 'project_id': '1234a',
                       'instrument_id': 54}}
    assert get(api, 'transactioninfo/multisearch', 'instrument_group_id=1001&project_id=1234a'
               '&start_time=2020-05-01&end_time=2020-05-10') == expected
    assert list(get(api, 'transactioninfo/multisearch', 'start_time=2020-05-01'
                    '&end_time=2020-06-30')) == ['67', '68', '69']
    assert get(api, 'transactioninfo/multisearch', 'project_id=1234a') == {}  # this month


def test_transactioninfo_release_state(api):
    released = {'transaction': 67, 'user': USER11_SIMPLE,
                'release_date': '2020-07-01T00:00:00', 'release_state': 'released',
                'display_state': 'Released', 'total_size_bytes': 3000, 'total_file_count': 2,
                'release_doi_entries': [{
                    'doi_status': 'pending', 'is_released': False,
                    'doi_reference': '10.25584/data.67/1', 'site_url': 'https://example.org/67',
                    'submission_date': '2020-07-03T00:00:00', 'metadata': {'title': 'A DOI'}}],
                'release_citations': None}
    assert get(api, 'transactioninfo/release_state/67') == {'67': released}
    assert get(api, 'transactioninfo/release_state', 'trans_id=67') == {'67': released}

    def not_released(tid):
        return {'user': None, 'release_state': 'not_released', 'display_state': 'Not Released',
                'transaction': tid}
    got = post(api, 'transactioninfo/release_state', [68, '67', 67, 4239672])
    assert got == {'67': released, '68': not_released(68), '4239672': not_released(4239672)}
    assert list(got) == ['67', '68', '4239672']   # released first


def test_transactioninfo_summary(api):
    expected = {
        '1234a': {'54': {'transaction_count': 1, 'upload_date_start': '2020-05-10',
                         'upload_date_end': '2020-05-10', 'project_id': '1234a',
                         'instrument_id': 54}},
        '1236\u00e9': {'104': {'transaction_count': 1, 'upload_date_start': '2020-05-31',
                               'upload_date_end': '2020-05-31', 'project_id': '1236\u00e9',
                               'instrument_id': 104}},
        '1237': {'54': {'transaction_count': 1, 'upload_date_start': '2020-05-11',
                        'upload_date_end': '2020-05-11', 'project_id': '1237',
                        'instrument_id': 54}}}
    assert get(api, 'transactioninfo/summary/2020-05-01/2020-06-30') == expected
    assert get(api, 'transactioninfo/summary', 'start_date=2020-05-01&end_date=2020-05-10') == {
        '1234a': expected['1234a']}
    assert get(api, 'transactioninfo/summary/2021-01-01/2021-02-01') == {}
    resp = api.request('GET', 'transactioninfo/summary//')
    assert_json_error(resp, 400, 'No starting date specified')
    assert resp.reason == 'Invalid Start Date'
    resp = api.request('GET', 'transactioninfo/summary/2017-07-01/')
    assert_json_error(resp, 400, 'No ending date specified')
    assert resp.reason == 'Invalid End Date'


# -- /summaryinfo --------------------------------------------------------------------------
def test_summaryinfo_by_date(api):
    got = post(api, 'summaryinfo/by_date/modified/instrument/2016-11-01/2016-11-12', [54])
    assert got == {
        'day_graph': {'by_date': {
            'available_dates': {}, 'file_count': {'2016-11-12': 2},
            'file_volume': {'2016-11-12': 3000}, 'transactions': {'2016-11-12': [67]},
            'file_volume_array': {}, 'transaction_count_array': {}}},
        'summary_totals': {'upload_stats': {'project': {'1234a': 2}, 'instrument': {'54': 2},
                                            'user': {'10': 2}},
                           'total_file_count': 2, 'total_size_bytes': 3000,
                           'total_size_string': ''},
        'transaction_info': {'transaction': {}, 'project': {'1234a': 'Pacifica D\u00e9velopment'},
                             'instrument': {'54': 'NMR PROBES: Nittany Liquid Prob\u00e9s'},
                             'user': {'10': 'David\u00e9 Brown\u00e9 Jr'}}}
    # the bounds are Los Angeles wall-clock: 2016-11-12 21:38 UTC is 13:38 there
    none = post(api, 'summaryinfo/by_date/modified/instrument/2016-11-12T14:00:00/'
                     '2016-11-12T16:00:00', [54])
    assert none['summary_totals']['total_file_count'] == 0
    submitted = post(api, 'summaryinfo/by_date/submitted/project/2020-01-01/2020-12-31',
                     ['1234a', '1236\u00e9'])
    assert submitted['day_graph']['by_date']['file_count'] == {'2020-05-10': 2,
                                                               '2020-05-31': 1}
    users = post(api, 'summaryinfo/by_date/created/user/2020-01-01/2020-12-31', [11])
    assert users['summary_totals']['upload_stats'] == {
        'project': {'1236\u00e9': 1}, 'instrument': {'104': 1}, 'user': {'11': 1}}
    assert post(api, 'summaryinfo/by_date/fred/betty/barney/wilma', [104])[
        'summary_totals']['total_file_count'] == 1


def test_summaryinfo_transaction_details(api):
    got = post(api, 'summaryinfo/transaction_details', [67, 68, 70, 999])
    assert got == {
        '67': {'upload_id': '67', 'upload_date': '2020-05-10', 'file_date_start': '2016-11-12',
               'file_date_end': '2016-11-12', 'uploaded_by_id': 10, 'bundle_size': 3000,
               'file_count': 2, 'upload_datetime': '2020-05-10 05:00:00',
               'project_id': '1234a', 'instrument_id': 54},
        '68': {'upload_id': '68', 'upload_date': '2020-05-11', 'file_date_start': '2020-05-11',
               'file_date_end': '2020-05-11', 'uploaded_by_id': 10, 'bundle_size': 30,
               'file_count': 1, 'upload_datetime': '2020-05-11 02:30:00',
               'project_id': '1237', 'instrument_id': 54}}
    assert post(api, 'summaryinfo/transaction_details', []) == {}


# -- /fileinfo, /tkvinfo ------------------------------------------------------------------
def test_fileinfo(api):
    assert post(api, 'fileinfo/file_details', [104, 103, 105]) == [
        {'file_id': 103, 'relative_local_path': 'data/x/b.txt', 'file_size_bytes': 1000,
         'hashtype': 'sha1', 'hashsum': SHA1},
        {'file_id': 104, 'relative_local_path': 'data/x/a.txt', 'file_size_bytes': 2000,
         'hashtype': 'sha1', 'hashsum': SHA1}]
    assert post(api, 'fileinfo/file_details', [106])[0]['relative_local_path'] == '/d.txt'
    assert_json_error(api.request('POST', 'fileinfo/file_details', body=[205, 206]), 404,
                      'No files from the list [205, 206] were located')
    assert post(api, 'fileinfo/earliest_latest/project/modified', ['1234a']) == {
        'earliest': '2016-11-12 21:38:21', 'latest': '2016-11-13 01:00:00'}
    assert post(api, 'fileinfo/earliest_latest/instrument/SUBMITTED', [54]) == {
        'earliest': '2020-05-10 12:00:00', 'latest': '2020-05-11 09:30:00'}
    assert post(api, 'fileinfo/earliest_latest/user/create_time', [11]) == {
        'earliest': '2020-06-01 02:00:00', 'latest': '2020-06-01 02:00:00'}
    assert_json_error(api.request('POST', 'fileinfo/earliest_latest/project/created',
                                  body=['2345a']), 404)
    for bad in ('bob/created', 'project/bob', 'submitter/created'):
        resp = api.request('POST', 'fileinfo/earliest_latest/' + bad, body=['1234a'])
        assert_json_error(resp, 400)
        assert resp.reason == 'Invalid Query'
    assert get(api, 'fileinfo/files_for_keyvalue/temp_f/27') == [F103, F104]
    assert get(api, 'fileinfo/files_for_keyvalue/TEMP_F/19') == [F106]
    assert get(api, 'fileinfo/files_for_keyvalue/nokey/27') == []
    assert get(api, 'fileinfo/files_for_keyvalue/temp_f/99') == []
    assert get(api, 'fileinfo/files_for_keyvalue/color/red') == []   # deleted link


def test_tkvinfo(api):
    assert get(api, 'tkvinfo/values_for_key/temp_f') == {'27': [67], '19': [68]}
    assert get(api, 'tkvinfo/values_for_key/temp_f', 'end_time=Mon May 11 00:00:00 2020') == {
        '27': [67]}
    assert get(api, 'tkvinfo/values_for_key/temp_f/2020-05-11/2020-05-12') == {'19': [68]}
    assert get(api, 'tkvinfo/values_for_key/TEMP_F') == {}       # exact match
    assert get(api, 'tkvinfo/values_for_key/color') == {}         # deleted link
    assert get(api, 'tkvinfo/kv_for_transaction/67') == {'temp_f': '27'}
    assert get(api, 'tkvinfo/kv_for_transaction/747') == {}


# -- /migrate, /objectinfo -----------------------------------------------------------------
def test_migrate(api):
    assert get(api, 'migrate/instruments/') == {'54': dict(I54, projects=['1234a']),
                                                '104': dict(I104, projects=['1234a'])}
    projects = get(api, 'migrate/projects')
    assert list(projects) == ['1234a', '1235', '1236\u00e9', '1237']
    assert projects['1234a'] == dict(P1234A, abstract='abs', instruments=[54, 104], users=[10])
    users = get(api, 'migrate/users')
    assert list(users) == ['10', '11', '12']
    assert users['10'] == dict(USER10_SIMPLE, projects=['1234a', '1237'], instruments=[],
                               institutions=[])
    assert users['11']['projects'] == []


def test_objectinfo(api):
    names = get(api, 'objectinfo')
    assert len(names) == 45 and names[:4] == ['journals', 'users', 'institutions', 'projects']
    available = get(api, 'objectinfo/list')['available_objects']
    assert available['trans_key_value'] == 'TransactionKeyValue' and len(available) == 45
    overview = get(api, 'objectinfo/TransSIP')
    assert overview['primary_keys'] == ['id']
    assert overview['field_list'] == ['id', 'created', 'updated', 'deleted', 'submitter',
                                      'instrument', 'project']
    assert overview['related_models']['id'] == {'db_column': 'id_id',
                                                'db_table': 'transactions', 'primary_key': 'id'}
    assert overview['record_count'] == 3     # the deleted row is not counted
    assert overview['last_changed_date'] == '2020-06-01 03:00:00'
    tkv = get(api, 'objectinfo/trans_key_value/overview')
    assert tkv['field_list'] == ['created', 'updated', 'deleted', 'transaction', 'key', 'value']
    assert tkv['primary_keys'] == ['transaction', 'key', 'value']
    assert get(api, 'objectinfo/keys', 'key=temp_f')['record_count'] == 1
    assert get(api, 'objectinfo', 'object_class_name=keys&operation=anything')[
        'callable_name'] == 'keys'
    digest = md5(b'1temp_f')   # the columns in sorted order: _id, key
    assert get(api, 'objectinfo/keys/hashlist', 'key=temp_f&_id=') == {
        'hash_list': [digest],
        'hash_lookup': {digest: {'key_list': {'_id': 1, 'key': 'temp_f'},
                                 'index_hash': digest}}}
    # no columns: the primary key, named as the JSON names it (spec 18.11)
    assert get(api, 'objectinfo/keys/hashlist')['hash_list'] == [
        md5(str(n).encode()) for n in (1, 2, 3)]
    resp = api.request('GET', 'objectinfo/bogus')
    assert_json_error(resp, 404, "'bogus' is not a valid class object name")


def test_proxy_lookup_by_hash(api):
    # pacifica-proxy's call (spec 17), served by the generic /files endpoint
    found = get(api, 'files', 'hashsum={}&hashtype=sha1'.format(SHA1))
    assert [f['_id'] for f in found] == [103, 104, 106, 107]   # 105 is deleted
    assert found[0]['subdir'] == 'data/x/' and found[0]['name'] == 'b.txt'
    assert get(api, 'files', 'hashsum={}&hashtype=md5'.format(SHA1)) == []


def test_reporting_zone_is_configurable(api):
    from metadata.mq_dataset import count_statements  # pylint: disable=import-outside-toplevel
    from pacifica.metadata.queries import reporting  # pylint: disable=import-outside-toplevel
    utc, _ = count_statements(api.db_url, reporting.transaction_details, [69],
                              zoneinfo.ZoneInfo('UTC'))
    assert utc['69']['upload_datetime'] == '2020-06-01 03:00:00'
    assert utc['69']['upload_date'] == '2020-06-01'


def test_bad_reporting_zone_stops_start_up(md_db_url, md_admin, tmp_path):
    env = service_env(tmp_path, 'metadata', PEEWEE_URL=md_db_url,
                      METADATA_REPORTING_TIMEZONE='Mars/Base')
    assert md_admin(env, 'dbsync', cwd=str(tmp_path)).returncode == 0
    done = subprocess.run([sys.executable, '-m', 'pacifica.metadata', '-p', str(free_port())],
                          env=env, cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert "reporting.timezone = 'Mars/Base' is not an IANA time zone" in done.stderr
