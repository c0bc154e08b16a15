"""The Build page: `page` draws it; `state` holds the network being edited and its edits;
`editor`, `table`, `settings` and `share` draw its parts; `history` is undo and redo."""
