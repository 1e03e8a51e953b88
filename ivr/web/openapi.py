"""The OpenAPI 3.1 description of the loan-system API (served at /api/openapi.json)."""

_report = {"type": "object", "properties": {
    "batch_id": {"type": "integer"}, "rows": {"type": "integer"}, "created": {"type": "integer"},
    "updated": {"type": "integer"}, "unchanged": {"type": "integer"}, "rejected": {"type": "integer"},
    "errors": {"type": "array", "items": {"type": "object", "properties": {
        "line": {"type": "integer", "description": "1 is the header; the first row is line 2"},
        "loan_id": {"type": ["string", "null"]}, "column": {"type": ["string", "null"]},
        "reason": {"type": "string", "description": "in English"},
        "code": {"type": "string", "description": "stable: required, bad_phone, invalid_phone, bad_date, "
                 "bad_amount, duplicate_loan, unknown_loan, ... (invalid when unnamed)"},
        "params": {"type": "object", "description": "the values the reason names"}}}}}}
_borrower = {"type": "object", "required": ["loan_id", "name", "phone"], "properties": {
    "loan_id": {"type": "string"}, "name": {"type": "string"}, "phone": {"type": "string"},
    "id_last4": {"type": "string", "pattern": "^[0-9]{3}[0-9X]$"}, "amount_due": {"type": ["integer", "string"]},
    "due_date": {"type": "string", "format": "date"}, "locale": {"type": "string", "enum": ["zh-CN", "ko-KR"]},
    "timezone": {"type": "string"}, "phone_type": {"type": "string", "enum": ["mobile", "home", "work"]},
    "phone2": {"type": "string"}, "contact1_phone": {"type": "string"}, "contact1_name": {"type": "string"},
    "contact1_relation": {"type": "string"}},
    "description": "Same columns as the borrower import file (phoneN, contactN_* for any N)."}
_payment = {"type": "object", "required": ["loan_id", "paid_amount", "paid_at"], "properties": {
    "loan_id": {"type": "string"}, "paid_amount": {"type": ["integer", "string"]},
    "paid_at": {"type": "string", "description": "YYYY-MM-DD or ISO timestamp"}}}
_result = {"type": "object", "properties": {
    "attempt_id": {"type": "string"}, "loan_id": {"type": ["string", "null"]},
    "campaign_id": {"type": ["integer", "null"]}, "number": {"type": "string", "description": "masked"},
    "created_at": {"type": "string"}, "answered_at": {"type": ["string", "null"]}, "ended_at": {"type": "string"},
    "outcome": {"type": ["string", "null"]}, "disposition": {"type": ["string", "null"]},
    "cause": {"type": ["integer", "null"]}, "result": {"type": ["string", "null"]},
    "promises": {"type": "array", "items": {"type": "object"}}, "callbacks": {"type": "array", "items": {"type": "object"}},
    "escalation": {"type": ["object", "null"]}, "cursor": {"type": "string"}}}
_errors = {"401": {"description": "missing or unknown token"}, "403": {"description": "token lacks the scope"}}

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "Huifang loan-system API", "version": "1",
             "description": "Push borrowers and payments; pull call results. Results are also pushed to "
                            "configured webhooks as JSON POSTs signed with X-Huifang-Signature: "
                            "sha256=HMAC-SHA256(secret, '<X-Huifang-Timestamp>.<body>')."},
    "servers": [{"url": "/"}],
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                   "schemas": {"ImportReport": _report, "Borrower": _borrower, "Payment": _payment, "Result": _result}},
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/borrowers": {"post": {
            "summary": "Create or update borrowers (scope push)", "operationId": "pushBorrowers",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["borrowers"],
                "properties": {"borrowers": {"type": "array", "items": {"$ref": "#/components/schemas/Borrower"}}}}}}},
            "responses": {"200": {"description": "import report", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ImportReport"}}}}, "400": {"description": "bad body"},
                **_errors}}},
        "/api/v1/payments": {"post": {
            "summary": "Record payments (scope push)", "operationId": "pushPayments",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["payments"],
                "properties": {"payments": {"type": "array", "items": {"$ref": "#/components/schemas/Payment"}}}}}}},
            "responses": {"200": {"description": "import report", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ImportReport"}}}}, **_errors}}},
        "/api/v1/results": {"get": {
            "summary": "Finished calls after a cursor, oldest first (scope pull)", "operationId": "pullResults",
            "parameters": [{"name": "after", "in": "query", "schema": {"type": "string"},
                            "description": "the `next` of the previous page; empty: from the beginning"},
                           {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}}],
            "responses": {"200": {"description": "a page of results", "content": {"application/json": {"schema": {
                "type": "object", "properties": {
                    "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
                    "next": {"type": "string"}}}}}}, **_errors}}},
        "/api/v1/borrowers/{loan_id}": {"get": {
            "summary": "One borrower's follow-up status and risk (scope pull)", "operationId": "getBorrower",
            "parameters": [{"name": "loan_id", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "as imported, percent-encoded ('2023/0001' is 2023%2F0001)"}],
            "responses": {"200": {"description": "status"}, "404": {"description": "unknown loan_id"}, **_errors}}},
    },
}
