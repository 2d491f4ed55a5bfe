"""Lambda entry points: thin — parse, call one service, shape the response."""
