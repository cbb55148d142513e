"""The document corpus (`docs`) and `read_document`.

    corpus   `docs`: the public interface, background indexing, doc ids
    build    finding documents, bringing the index up to date for them
    workers  extraction in worker processes, for a large corpus
    extract  text out of PDF, DOCX, HTML, Markdown and text files, page by page
    pdfrows  the cells of a PDF table's rows kept apart in its text
    index    the SQLite FTS5 index shared by the sessions of a state dir
    dates    a document's date: file name, first page, metadata
    periods  the periods a text names ("Q3 2024", "as of March 31, 2025")
    ranking  BM25's best pages re-ranked by the periods a query names, and by document
    filters  search's arguments that choose documents (files, after, before) and their checks
    hits     documents, search hits and grep matches, and how they print
    snippet  the verbatim one-line snippet of a hit
    errors   DocumentError, UnknownDocument

Nothing is re-exported here: the kernel imports `corpus` at start, the rest loads when first used.
"""
