"""The PostgreSQL backend of every store (extra ``postgres``); see connection.py."""
