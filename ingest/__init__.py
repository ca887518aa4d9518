"""Files -> pages -> articles -> chunks -> store."""

from ingest.articles import segment_page
from ingest.chunks import chunk_article, split_sentences
from ingest.pages import FileResult, Problem, read_file
from ingest.pipeline import IngestReport, articles_from_result, ingest_paths
from ingest.uploads import FileOutcome, Upload, UploadOutcome, UploadResult, ingest_uploads

__all__ = [
    "FileOutcome",
    "FileResult",
    "IngestReport",
    "Problem",
    "Upload",
    "UploadOutcome",
    "UploadResult",
    "articles_from_result",
    "chunk_article",
    "ingest_paths",
    "ingest_uploads",
    "read_file",
    "segment_page",
    "split_sentences",
]
