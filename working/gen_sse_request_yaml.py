import yaml, sys

def L(en, zh, ja, pt): return {"en_US": en, "zh_Hans": zh, "ja_JP": ja, "pt_BR": pt}
def opt(v, en, zh, ja, pt): return {"value": v, "label": L(en, zh, ja, pt)}

P = []
def p(name, type_, form, label, human, llm=None, **kw):
    d = {"name": name, "type": type_, "required": kw.pop("required", False), "label": label, "human_description": human}
    d["llm_description"] = llm or human["en_US"]
    d["form"] = form
    d.update(kw)
    P.append(d)

p("url", "string", "llm", L("URL", "URL", "URL", "URL"),
  L("The SSE endpoint to call, with http:// or https://.", "要调用的 SSE 接口地址，需以 http:// 或 https:// 开头。", "呼び出す SSE エンドポイント（http:// または https://）。", "O endpoint SSE a chamar, com http:// ou https://."),
  "Full URL of the Server-Sent Events endpoint, including http:// or https://, e.g. https://api.openai.com/v1/chat/completions. Query parameters may be written here or in query_params.",
  required=True)
p("method", "select", "llm", L("Method", "请求方法", "メソッド", "Método"),
  L("HTTP method. Use POST to send a body (OpenAI, Anthropic, Dify apps).", "HTTP 方法。需要发送请求体时（OpenAI、Anthropic、Dify 应用）使用 POST。", "HTTP メソッド。本文を送る場合（OpenAI、Anthropic、Dify アプリ）は POST。", "Método HTTP. Use POST para enviar um corpo (OpenAI, Anthropic, apps Dify)."),
  "HTTP method: GET (default, no body) or POST/PUT/PATCH/DELETE. Use POST whenever a body is sent, e.g. for OpenAI, Anthropic or Dify API calls.",
  default="GET", options=[opt(m, m, m, m, m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE")])
p("headers", "string", "llm", L("Headers", "请求头", "ヘッダー", "Cabeçalhos"),
  L("Request headers: a JSON object, or one 'Key: Value' per line as in the HTTP Request node.", "请求头：JSON 对象，或与 HTTP 请求节点相同的每行一个 “Key: Value”。", "リクエストヘッダー：JSON オブジェクト、または HTTP リクエストノードと同じく 1 行に 1 つの 'Key: Value'。", "Cabeçalhos: um objeto JSON, ou um 'Chave: Valor' por linha como no nó HTTP Request."),
  "Optional request headers as a JSON object like {\"X-Trace\": \"1\"} or as 'Key: Value' lines. Do not put credentials here when auth_type is set; Accept: text/event-stream is added automatically.")
p("query_params", "string", "llm", L("Query parameters", "查询参数", "クエリパラメーター", "Parâmetros de consulta"),
  L("Added to the URL: a JSON object, a=1&b=2, or 'key: value' lines.", "附加到 URL：JSON 对象、a=1&b=2，或每行一个 “key: value”。", "URL に追加：JSON オブジェクト、a=1&b=2、または 1 行に 1 つの 'key: value'。", "Adicionados à URL: objeto JSON, a=1&b=2 ou linhas 'chave: valor'."),
  "Optional query string parameters as a JSON object like {\"alt\": \"sse\"}, as a=1&b=2, or as 'key: value' lines. Values are URL-encoded for you.")
p("body", "string", "llm", L("Body", "请求体", "本文", "Corpo"),
  L("Request body. JSON (sent with Content-Type: application/json unless you set one) or raw text. Not allowed with GET.", "请求体。JSON（未自行设置时自动使用 Content-Type: application/json）或纯文本。GET 请求不可带请求体。", "リクエスト本文。JSON（Content-Type 未指定なら application/json）またはテキスト。GET では使えません。", "Corpo da requisição. JSON (enviado com Content-Type: application/json se você não definir outro) ou texto. Não permitido com GET."),
  "Optional request body, usually a JSON object such as {\"model\": \"gpt-4o-mini\", \"stream\": true, \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}. Must be valid JSON when it starts with { or [. Leave empty for GET.")
p("auth_type", "select", "form", L("Authentication", "认证方式", "認証方式", "Autenticação"),
  L("How the token is sent: Bearer (Authorization: Bearer), Basic (user:password or already encoded), or API key in a header.", "令牌的发送方式：Bearer（Authorization: Bearer）、Basic（user:password 或已编码值）、或放在请求头中的 API Key。", "トークンの送り方：Bearer（Authorization: Bearer）、Basic（user:password またはエンコード済み）、ヘッダーの API キー。", "Como o token é enviado: Bearer (Authorization: Bearer), Basic (usuário:senha ou já codificado) ou chave de API em um cabeçalho."),
  default="none", options=[opt("none", "None", "无", "なし", "Nenhuma"), opt("bearer", "Bearer token", "Bearer 令牌", "Bearer トークン", "Token Bearer"), opt("basic", "Basic", "Basic", "Basic", "Basic"), opt("api_key", "API key header", "API Key 请求头", "API キーヘッダー", "Cabeçalho de chave de API")])
p("auth_token", "secret-input", "form", L("Token", "令牌", "トークン", "Token"),
  L("The secret for the chosen authentication. Never shown in outputs or logs.", "所选认证方式的密钥。不会出现在任何输出或日志中。", "選んだ認証方式の秘密情報。出力やログには表示されません。", "O segredo da autenticação escolhida. Nunca aparece em saídas ou logs."))
p("auth_header", "string", "form", L("API key header", "API Key 请求头名", "API キーのヘッダー名", "Cabeçalho da chave de API"),
  L("Header name for the API key authentication (default X-API-Key; Anthropic uses x-api-key).", "API Key 认证使用的请求头名称（默认 X-API-Key；Anthropic 使用 x-api-key）。", "API キー認証のヘッダー名（既定 X-API-Key、Anthropic は x-api-key）。", "Nome do cabeçalho para a chave de API (padrão X-API-Key; a Anthropic usa x-api-key)."),
  default="X-API-Key")
p("output_mode", "select", "form", L("Output mode", "输出模式", "出力モード", "Modo de saída"),
  L("text: the stream's text as it arrives (for Answer/End nodes); events: one JSON line per event; summary: only the final summary (best for agents).", "text：到达即输出流中的文本（用于直接回复/结束节点）；events：每个事件一行 JSON；summary：只输出最终汇总（适合 Agent）。", "text：届いたテキストを即時出力（回答/終了ノード向け）、events：イベントごとに JSON 1 行、summary：最終要約のみ（エージェント向け）。", "text: o texto do stream assim que chega (para nós Answer/End); events: uma linha JSON por evento; summary: só o resumo final (melhor para agentes)."),
  default="text", options=[opt("text", "Text", "文本", "テキスト", "Texto"), opt("events", "Events (JSON lines)", "事件（JSON 行）", "イベント（JSON 行）", "Eventos (linhas JSON)"), opt("summary", "Summary only", "仅汇总", "要約のみ", "Somente resumo")])
p("stream_format", "select", "form", L("Stream format", "流格式", "ストリーム形式", "Formato do stream"),
  L("How to read the events. auto detects Dify, OpenAI, Anthropic and Gemini streams from the first event and streams only the answer text; raw passes each event's data through.", "如何解读事件。auto 根据首个事件识别 Dify、OpenAI、Anthropic、Gemini 流，只输出回答文本；raw 原样输出每个事件的数据。", "イベントの読み方。auto は最初のイベントから Dify・OpenAI・Anthropic・Gemini を判別し回答テキストだけを流します。raw は各イベントのデータをそのまま流します。", "Como ler os eventos. auto detecta streams Dify, OpenAI, Anthropic e Gemini pelo primeiro evento e transmite só o texto da resposta; raw repassa os dados de cada evento."),
  default="auto", options=[opt("auto", "Auto-detect", "自动识别", "自動判別", "Detectar"), opt("raw", "Raw", "原始", "そのまま", "Bruto"), opt("dify", "Dify app", "Dify 应用", "Dify アプリ", "App Dify"), opt("openai", "OpenAI", "OpenAI", "OpenAI", "OpenAI"), opt("anthropic", "Anthropic", "Anthropic", "Anthropic", "Anthropic"), opt("gemini", "Gemini", "Gemini", "Gemini", "Gemini")])
p("timeout", "number", "form", L("Connect timeout (s)", "连接超时（秒）", "接続タイムアウト（秒）", "Tempo limite de conexão (s)"),
  L("Seconds to wait for the connection to open (1-300).", "等待连接建立的秒数（1-300）。", "接続が開くまで待つ秒数（1-300）。", "Segundos para a conexão abrir (1-300)."),
  default=30, min=1, max=300)
p("read_timeout", "number", "form", L("Read timeout (s)", "读取超时（秒）", "読み取りタイムアウト（秒）", "Tempo limite de leitura (s)"),
  L("Longest silence between two pieces of data before giving up (1-570). Keep-alive comments count as data.", "两次收到数据之间允许的最长静默时间（1-570）。保活注释也算数据。", "データ間の無通信をどこまで待つか（1-570）。キープアライブのコメントもデータとみなします。", "Maior silêncio entre dados antes de desistir (1-570). Comentários keep-alive contam como dados."),
  default=120, min=1, max=570)
p("max_duration", "number", "form", L("Max duration (s)", "最长持续时间（秒）", "最大継続時間（秒）", "Duração máxima (s)"),
  L("Total seconds for the whole run, reconnects included (1-570; Dify stops any plugin call at 600 s). When reached, the tool ends normally with status timeout and what arrived; a call that never got a response fails instead.", "整个运行（含重连）的总秒数（1-570；Dify 在 600 秒时终止插件调用）。到时正常结束，状态为 timeout，并保留已收到的内容；若始终没有收到响应则判为失败。", "再接続を含む実行全体の秒数（1-570。Dify は 600 秒でプラグイン呼び出しを止めます）。到達すると届いた分を保ったまま status timeout で正常終了します。応答が一度も返らなかった場合は失敗になります。", "Segundos de toda a execução, reconexões incluídas (1-570; o Dify encerra chamadas de plugin em 600 s). Ao atingir, termina normalmente com status timeout e o que chegou; uma chamada que nunca recebeu resposta falha."),
  default=300, min=1, max=570)
p("max_events", "number", "form", L("Max events", "最大事件数", "最大イベント数", "Máximo de eventos"),
  L("Stop after this many events. 0 (default) means no limit: the stream's own end, max duration and size limits stop it. A limit like 100 would cut an ordinary LLM answer short.", "收到这么多事件后停止。0（默认）表示不限制：由流自身结束、最长持续时间和大小限制来终止。100 之类的限制会截断普通的 LLM 回答。", "この数のイベントで停止。0（既定）は無制限：ストリームの終了、最大継続時間、サイズ上限で止まります。100 などでは通常の LLM の回答が途中で切れます。", "Parar após tantos eventos. 0 (padrão) = sem limite: o fim do stream, a duração máxima e os limites de tamanho o encerram. Um limite como 100 cortaria uma resposta comum de LLM."),
  default=0, min=0)
p("stop_on", "string", "form", L("Stop on", "停止条件", "停止条件", "Parar em"),
  L("Event types or data values that end the stream early, comma-separated (e.g. message_end, workflow_finished). [DONE] always ends a stream and is never shown.", "提前结束流的事件类型或数据值，逗号分隔（如 message_end, workflow_finished）。[DONE] 总是结束流且不会输出。", "ストリームを早く終えるイベント種別またはデータ値（カンマ区切り、例 message_end, workflow_finished）。[DONE] は常に終了とし表示しません。", "Tipos de evento ou valores de dados que encerram o stream antes, separados por vírgula (ex.: message_end, workflow_finished). [DONE] sempre encerra e nunca é mostrado."))
p("event_filter", "string", "form", L("Event filter", "事件过滤", "イベントフィルター", "Filtro de eventos"),
  L("Only these event types are streamed and kept, comma-separated (for Dify streams, the event names inside the JSON such as message, node_finished). Empty keeps all.", "只输出并保留这些事件类型，逗号分隔（Dify 流使用 JSON 内的事件名，如 message、node_finished）。留空保留全部。", "このイベント種別だけを流して保持します（カンマ区切り。Dify のストリームでは JSON 内のイベント名、例 message、node_finished）。空欄ならすべて。", "Apenas estes tipos de evento são transmitidos e guardados, separados por vírgula (em streams Dify, os nomes no JSON como message, node_finished). Vazio mantém todos."))
p("max_retries", "number", "form", L("Max reconnects", "最大重连次数", "最大再接続回数", "Máximo de reconexões"),
  L("How many times a broken connection (or HTTP 429/502/503/504) is retried in one run (0-20). A POST that already streamed events is only resumed when the server sent event ids.", "单次运行中对断开的连接（或 HTTP 429/502/503/504）最多重试的次数（0-20）。已输出事件的 POST 只有在服务器提供事件 id 时才会续传。", "1 回の実行で切断（または HTTP 429/502/503/504）を再試行する回数（0-20）。イベントを流し始めた POST は、サーバーがイベント id を送った場合のみ再開します。", "Quantas vezes uma conexão interrompida (ou HTTP 429/502/503/504) é tentada de novo numa execução (0-20). Um POST que já transmitiu eventos só é retomado se o servidor enviou ids de evento."),
  default=3, min=0, max=20)
p("retry_interval", "number", "form", L("Retry interval (ms)", "重连间隔（毫秒）", "再接続間隔（ミリ秒）", "Intervalo de reconexão (ms)"),
  L("First delay before reconnecting, in milliseconds; it doubles on each failure (with jitter, at most 30 s). A retry: field from the server replaces it.", "首次重连前的等待毫秒数；每次失败翻倍（带抖动，最多 30 秒）。服务器发送的 retry: 字段会替代它。", "再接続までの最初の待ち時間（ミリ秒）。失敗ごとに倍増（ジッター付き、最大 30 秒）。サーバーの retry: フィールドが優先されます。", "Primeira espera antes de reconectar, em milissegundos; dobra a cada falha (com jitter, no máximo 30 s). Um campo retry: do servidor a substitui."),
  default=1000, min=0, max=60000)
p("max_event_kb", "number", "form", L("Max event size (KiB)", "单个事件上限（KiB）", "イベントの最大サイズ（KiB）", "Tamanho máximo do evento (KiB)"),
  L("Largest single event accepted (1-4096 KiB). A larger one ends the stream with status event_too_large.", "可接受的单个事件最大大小（1-4096 KiB）。超出时以 event_too_large 状态结束。", "受け入れる 1 イベントの最大サイズ（1-4096 KiB）。超えると status event_too_large で終了します。", "Maior evento aceito (1-4096 KiB). Um maior encerra o stream com status event_too_large."),
  default=1024, min=1, max=4096)
p("max_stream_mb", "number", "form", L("Max stream size (MiB)", "流总大小上限（MiB）", "ストリームの最大サイズ（MiB）", "Tamanho máximo do stream (MiB)"),
  L("Stop after this many MiB received (0 = no limit, up to 4096). Ends with status max_stream_bytes.", "收到这么多 MiB 后停止（0 表示不限，最大 4096）。以 max_stream_bytes 状态结束。", "この MiB を受信したら停止（0 は無制限、最大 4096）。status max_stream_bytes で終了します。", "Parar após receber tantos MiB (0 = sem limite, até 4096). Termina com status max_stream_bytes."),
  default=256, min=0, max=4096)
p("ssl_verify", "boolean", "form", L("Verify TLS certificate", "校验 TLS 证书", "TLS 証明書を検証", "Verificar certificado TLS"),
  L("Turn off only for internal services with self-signed certificates.", "仅在内部服务使用自签名证书时关闭。", "自己署名証明書の内部サービスの場合のみオフにしてください。", "Desative apenas para serviços internos com certificados autoassinados."),
  default=True)
p("fail_on_stream_error", "boolean", "form", L("Fail on stream error", "流报错时失败", "ストリームのエラーで失敗", "Falhar em erro do stream"),
  L("When the stream reports an error (a Dify error event or failed workflow, an OpenAI/Anthropic error), fail the node after streaming what arrived. Off: finish and report success false in the summary.", "当流报告错误（Dify error 事件或工作流失败、OpenAI/Anthropic 错误）时，在输出已收到内容后让节点失败。关闭则正常结束，并在汇总中给出 success: false。", "ストリームがエラーを報告したとき（Dify の error イベントや失敗したワークフロー、OpenAI/Anthropic のエラー）、届いた分を流した後にノードを失敗させます。オフなら正常終了し要約で success false を返します。", "Quando o stream relata um erro (evento error do Dify ou workflow com falha, erro OpenAI/Anthropic), falha o nó após transmitir o que chegou. Desligado: termina e informa success false no resumo."),
  default=True)

doc = {
    "identity": {"name": "sse_request", "author": "ssekit", "label": L("SSE Request", "SSE 请求", "SSE リクエスト", "Requisição SSE")},
    "description": {
        "human": L("Call a Server-Sent Events endpoint and stream each event as it arrives, then a JSON summary.",
                   "调用 Server-Sent Events 接口，事件到达即输出，最后给出 JSON 汇总。",
                   "Server-Sent Events エンドポイントを呼び出し、届いたイベントを即座に出力し、最後に JSON の要約を返します。",
                   "Chama um endpoint Server-Sent Events, transmite cada evento assim que chega e termina com um resumo JSON."),
        "llm": "Calls an HTTP endpoint that answers with a Server-Sent Events stream (text/event-stream), such as an OpenAI, Anthropic, Gemini or Dify streaming API, reads the stream until it ends, and returns the streamed answer text plus a JSON summary (success, status, total_events, answer, usage). Use it to call streaming APIs; fill url, and for APIs that take a body use method POST with a JSON body.",
    },
    "parameters": P,
    "output_schema": {
        "type": "object",
        "properties": {
            "success": {"type": "boolean", "description": "True when the stream ended without an error"},
            "status": {"type": "string", "description": "completed, stopped, max_events, timeout, idle_timeout, no_content, max_stream_bytes, event_too_large or error"},
            "total_events": {"type": "integer", "description": "Events received (after the event filter)"},
            "connection_duration": {"type": "number", "description": "Seconds from the first request to the end"},
            "http_status": {"type": "integer", "description": "HTTP status of the last response"},
            "reconnects": {"type": "integer", "description": "How many times the tool reconnected"},
            "format": {"type": "string", "description": "The stream format used: raw, dify, openai, anthropic or gemini"},
            "answer": {"type": "string", "description": "The whole answer text"},
            "usage": {"type": "object", "description": "Token usage and price when the stream reports them"},
            "result": {"type": "object", "description": "The format's aggregate (for Dify apps: success and data with outputs and metadata)"},
        },
    },
    "extra": {"python": {"source": "tools/sse_request.py"}},
}
yaml.safe_dump(doc, sys.stdout, allow_unicode=True, sort_keys=False, width=100)
