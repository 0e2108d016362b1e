"""Parsing a model's text: tool calls and reasoning, whole or as it streams."""

from infercore._parsers._forced import ForcedCallsParser, forced_calls_schema
from infercore._parsers._formats import HermesParser, Llama3JsonParser, MistralParser
from infercore._parsers._output import ChoiceParser, ChoicePiece, OutputParsing
from infercore._parsers._reasoning import (
    DeepSeekR1Parser,
    Qwen3Parser,
    ReasoningParser,
    ReasoningPiece,
    ReasoningStream,
)
from infercore._parsers._specs import ReasoningParserSpec, ToolParserSpec, choose_parser
from infercore._parsers._tool import ParsedCall, ToolCallStream, ToolParser, ToolPiece

__all__ = [
    "ChoiceParser",
    "ChoicePiece",
    "DeepSeekR1Parser",
    "ForcedCallsParser",
    "HermesParser",
    "Llama3JsonParser",
    "MistralParser",
    "OutputParsing",
    "ParsedCall",
    "Qwen3Parser",
    "ReasoningParser",
    "ReasoningParserSpec",
    "ReasoningPiece",
    "ReasoningStream",
    "ToolCallStream",
    "ToolParser",
    "ToolParserSpec",
    "ToolPiece",
    "choose_parser",
    "forced_calls_schema",
]
