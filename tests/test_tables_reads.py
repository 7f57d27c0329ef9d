"""`impact.tables.recording_reads`: nested blocks each see the reads made inside them (the run log's
`input_tables`), and leave no recorder behind. Reads of never-written event tables (version -1) need no Spark."""
from __future__ import annotations

from impact import tables


def test_nested_recorders_each_keep_their_own_reads():
    with tables.recording_reads() as outer:
        with tables.recording_reads() as inner:          # both empty, so equal: removal must go by identity
            pass
        tables._note_read(None, "crimes", None)
        assert outer == {"crimes": -1} and inner == {}
        with tables.recording_reads() as second:
            tables._note_read(None, "stop_searches", None)
        assert second == {"stop_searches": -1}
        assert outer == {"crimes": -1, "stop_searches": -1}
    assert tables._READ_RECORDERS == []
    tables._note_read(None, "incidents", None)            # outside any block: recorded nowhere
    assert outer == {"crimes": -1, "stop_searches": -1}
