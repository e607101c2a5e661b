"""Forwarding stored alerts to a SIEM: one sender per receiver kind and the loop that feeds them from a cursor.

gelf.py      Graylog GELF over UDP (chunked, zlib) or TCP (null-delimited, optional TLS)
elastic.py   Elasticsearch / OpenSearch `_bulk` through the official clients
syslog.py    RFC 5424 over TCP or TLS with octet-counting framing
loop.py      cursor → batch of alerts → filter → format → send → advance cursor
"""
