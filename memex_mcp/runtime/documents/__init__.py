"""The document corpus (`docs`) and `read_document`: extraction, the index, search results."""

from memex_mcp.runtime.documents.build import Indexing
from memex_mcp.runtime.documents.corpus import Corpus, UnknownDocument, read_document
from memex_mcp.runtime.documents.extract import DocumentError
from memex_mcp.runtime.documents.hits import Document, Hit, Hits, Match, Matches

__all__ = ["Corpus", "Document", "DocumentError", "Hit", "Hits", "Indexing", "Match", "Matches", "UnknownDocument",
           "read_document"]
