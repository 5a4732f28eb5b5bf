"""Owns talking to intervals.icu, the second destination (issue 20).

- ``client``: Owns every call to intervals.icu for one account: upload, list by day, whose
  key it is.
- ``keycheck``: Owns ``stravasync auth --account`` for an intervals.icu account: whose key is
  this?
"""
