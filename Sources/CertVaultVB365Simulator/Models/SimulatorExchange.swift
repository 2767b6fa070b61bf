/// One request the simulator received, with secrets redacted (passwords, tokens, the PFX), and
/// its answer: for assertions in tests and for the spec-conformance check.
public struct SimulatorExchange: Sendable, Codable {
    /// The method, upper-case as sent.
    public let method: String
    /// The path with its query, as sent.
    public let path: String
    /// The status answered (for a dropped connection: the one that was never sent).
    public let status: Int
    /// `application/json`, `application/x-www-form-urlencoded` or nil.
    public let requestContentType: String?
    /// The request body as JSON (a form body as an object of strings), secrets replaced.
    public let requestBody: JSONValue?
    /// The response body as JSON, or nil when there was none.
    public let responseBody: JSONValue?
    /// What the simulator did besides answering (`dropped`, `delayed`, `injected-fault`).
    public let note: String?
}
