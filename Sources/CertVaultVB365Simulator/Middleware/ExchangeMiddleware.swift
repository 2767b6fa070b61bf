internal import CertVaultVB365
internal import Hummingbird
internal import NIOCore

/// The simulator's front door, around every route: collects the body (up to 16 MiB, else 413),
/// answers other API versions' paths with 404, applies the faults and delays the control
/// surface planned for the endpoint, records the exchange with its secrets redacted before the
/// answer leaves, and answers `RESTExceptionInfo` 401, 404 or 405 where no route matched, as
/// VB365 does. Control-surface paths (`/_simulator/...`) pass through unrecorded.
struct ExchangeMiddleware: RouterMiddleware {
    typealias Context = SimulatorRequestContext
    let state: SimulatorState

    /// The status and bytes to send, what to record of them, and what the simulator did.
    struct Outcome {
        var status: Int
        var bytes: [UInt8]
        /// The response body recorded (redacted); nil for none or for bytes that are no answer
        /// of the API (injected raw, malformed or oversized bodies).
        var recorded: JSONValue?
        var note: String?

        init(status: Int, bytes: [UInt8], recorded: JSONValue?, note: String?) {
            self.status = status
            self.bytes = bytes
            self.recorded = recorded
            self.note = note
        }

        init(_ answer: VB365Answer, note: String? = nil) {
            self.init(status: answer.status, bytes: answer.bytes, recorded: answer.raw == nil ? answer.body?.redacted() : nil, note: note)
        }
    }

    /// Thrown to abandon a connection without (the rest of) an answer.
    struct ConnectionDropped: Error {}

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        var context = context
        context.body = Array(try await request.collectBody(upTo: SimulatorServer.maximumBodyBytes).readableBytesView)
        context.target = RequestTarget(request.uri.string)
        if context.target.path.hasPrefix("/_simulator/") {
            do {
                return try await next(request, context)
            } catch let error as HTTPError where error.status == .notFound {
                return ControlController.answer(404, .object(["error": .string("unknown control path; see docs/vb365-simulator.md")]))
            }
        }
        let segments = context.target.segments
        guard let first = segments.first, VB365APIVersion(rawValue: first.lowercased()) == state.version else {
            return try await finish(request, context, endpoint: nil, Outcome(status: 404, bytes: [], recorded: nil, note: nil), fault: nil)
        }
        let rest = Array(segments.dropFirst())
        let endpoint = Self.endpointName(method: request.method.rawValue, rest)
        let fault = state.takeFault(for: endpoint)
        var outcome: Outcome
        switch fault {
        case .status(let status)?:
            outcome = Outcome(state.errors.answer(status, "Simulated failure (HTTP \(status)) injected through the control surface."),
                              note: "injected-fault")
        case .rawResponse(let status, let bytes)?:
            outcome = Outcome(status: status, bytes: bytes, recorded: nil, note: "injected-fault")
        case .echoRequest(let status)?:
            let message = "Cannot process the request: " + String(decoding: context.body, as: UTF8.self)
            outcome = Outcome(state.errors.answer(status, message, code: "ParameterValidationFailure"), note: "injected-fault")
        case .endlessPages(let repeating)?:
            outcome = Outcome(Self.endlessPage(context.target.query, repeating: repeating), note: "injected-fault")
        case .malformedResponse?, .oversizedResponse?, .dropAfterProcessing?, .truncateAfterProcessing?, nil:
            outcome = try await routed(request, context, rest, next)
            if fault == .malformedResponse {
                outcome = Outcome(status: 200, bytes: Array("<html>not json".utf8), recorded: nil, note: "malformed")
            }
            if case .oversizedResponse(let size)? = fault {
                let padding = Array("[\"".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: size) + Array("\"]".utf8)
                outcome = Outcome(status: 200, bytes: padding, recorded: nil, note: "oversized")
            }
        }
        return try await finish(request, context, endpoint: endpoint, outcome, fault: fault)
    }

    /// `METHOD path` with `{id}` for an organization id: `GET Organizations/{id}`.
    static func endpointName(method: String, _ rest: [String]) -> String {
        let shape = rest.enumerated().map { index, segment in
            index == 1 && rest[0].lowercased() == "organizations" ? "{id}" : segment
        }
        return "\(method.uppercased()) \(shape.joined(separator: "/"))"
    }

    /// The route's answer; where none matched, what VB365 answers: 405 for `token` with another
    /// method, else 401 without a valid token, 405 for a known resource, 404.
    private func routed(_ request: Request, _ context: Context, _ rest: [String],
                        _ next: (Request, Context) async throws -> Response) async throws -> Outcome {
        do {
            let response = try await next(request, context)
            let bytes = try await Self.bytes(of: response.body)
            return Outcome(status: Int(response.status.code), bytes: bytes, recorded: JSONValue.parse(bytes)?.redacted(), note: nil)
        } catch let error as HTTPError where error.status == .notFound {
            let lower = rest.map { $0.lowercased() }
            if lower == ["token"] { return Outcome(state.errors.methodNotAllowed()) }
            if let denied = state.authenticate(authorization: request.header("authorization"),
                                               antiforgeryHeader: request.header("x-xsrf-token")) {
                return Outcome(denied)
            }
            let known = [["serviceinstance"], ["devicecode"], ["devicecode", "check"], ["organizations"]].contains(lower)
                || lower.count == 2 && lower[0] == "organizations"
            return Outcome(known ? state.errors.methodNotAllowed() : state.errors.notFound())
        }
    }

    /// Records the exchange, then answers: after the endpoint's delay, or cut off as planned.
    private func finish(_ request: Request, _ context: Context, endpoint: String?, _ outcome: Outcome,
                        fault: Fault.Kind?) async throws -> Response {
        let contentType = request.mediaType
        var requestBody: JSONValue?
        if !context.body.isEmpty {
            if contentType == "application/x-www-form-urlencoded" {
                requestBody = JSONValue.object(FormEncoding.parse(context.body).mapValues { .string($0) }).redacted()
            } else {
                requestBody = JSONValue.parse(context.body)?.redacted() ?? .string("<not JSON, \(context.body.count) bytes>")
            }
        }
        var notes = outcome.note.map { [$0] } ?? []
        let delay = endpoint.map { state.delay(for: $0) } ?? 0
        if delay > 0 { notes.append("delayed") }
        let dropped = fault == .dropAfterProcessing || fault == .truncateAfterProcessing
        if dropped { notes.append("dropped") }
        state.record(SimulatorExchange(method: request.method.rawValue, path: context.target.recorded, status: outcome.status,
                                       requestContentType: contentType, requestBody: requestBody, responseBody: outcome.recorded,
                                       note: notes.isEmpty ? nil : notes.joined(separator: ",")))
        switch fault {
        case .dropAfterProcessing?:
            // The request was processed; the client never hears.
            context.channel.close(promise: nil)
            throw ConnectionDropped()
        case .truncateAfterProcessing?:
            // The status line, the headers (with the full Content-Length) and half the body.
            var response = VB365Answer.response(status: outcome.status, bytes: [])
            let bytes = outcome.bytes
            response.body = ResponseBody(contentLength: bytes.count) { writer in
                try await writer.write(ByteBuffer(bytes: bytes.prefix(bytes.count / 2)))
                throw ConnectionDropped()
            }
            if !bytes.isEmpty { response.headers[.contentType] = "application/json; charset=utf-8" }
            return response
        default:
            if delay > 0 { try await Task.sleep(for: .seconds(delay)) }
            return VB365Answer.response(status: outcome.status, bytes: outcome.bytes)
        }
    }

    /// A full v8 page of organizations that never ends (or is always the first one).
    private static func endlessPage(_ query: [String: String], repeating: Bool) -> VB365Answer {
        let limit = Int(query["limit"] ?? "30") ?? 30
        let offset = repeating ? 0 : Int(query["offset"] ?? "0") ?? 0
        let results: [JSONValue] = (0..<max(limit, 1)).map { index in
            .object(["id": .string("endless-\(offset + index)"), "name": .string("endless-\(offset + index).onmicrosoft.com"),
                     "type": .string("Office365")])
        }
        return VB365Answer(status: 200, body: .object(["offset": .number(Double(offset)), "limit": .number(Double(limit)),
                                                       "results": .array(results)]))
    }

    /// A route's response body, as bytes (the simulator's answers are small JSON).
    private static func bytes(of body: ResponseBody) async throws -> [UInt8] {
        let collector = BodyCollector()
        try await body.write(collector)
        return collector.buffer.bytes
    }
}

/// Collects a response body written to it.
private struct BodyCollector: ResponseBodyWriter {
    final class Buffer {
        var bytes: [UInt8] = []
    }
    let buffer = Buffer()

    mutating func write(_ part: ByteBuffer) async throws {
        buffer.bytes.append(contentsOf: part.readableBytesView)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
