"""`memex-mcp eval`: the same model on the same tasks, in two harnesses, scored and priced.

    suites         tasks: the bundled suite, OfficeQA-format CSVs, SQL-checkable table questions
    score          is an answer right: numbers with units and scale words, or normalised text
    prices         dollars per million tokens, a default table the user can override
    models         native tool calling: OpenAI-compatible and Anthropic providers
    scripted       a tool-calling model a Python function writes, and the bundled policy
    harness        what both harnesses offer the loop, and the one way an answer is handed in
    harness_memex  memex-mcp's four tools through a real MCP client over stdio
    harness_tools  classic tools whose results are text: sql, search, read_page, list_files
    loop           one task-run: the agent loop, its turns, tokens and verdict
    records        the JSONL record of a task-run (in `memex_mcp.records`, which the kernel loads too)
    run            many task-runs in parallel, resumable
    report         the Markdown table and the cost/accuracy plot
    cli            `memex-mcp eval …`

The runtime (the kernel side) never imports this package: it is a client of the server.
"""
