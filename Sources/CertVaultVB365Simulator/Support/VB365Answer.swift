internal import Foundation
internal import Hummingbird
internal import NIOCore

/// An answer of the simulated VB365 API: a status and a JSON body, or exact bytes (a hostile
/// or broken server).
struct VB365Answer: ResponseGenerator, Sendable {
    var status: Int
    var body: JSONValue?
    var raw: [UInt8]?

    init(status: Int, body: JSONValue? = nil) {
        self.status = status
        self.body = body
    }

    init(status: Int, raw: [UInt8]) {
        self.status = status
        self.raw = raw
    }

    /// The bytes sent: the raw ones, or the JSON body with sorted keys and unescaped slashes.
    var bytes: [UInt8] {
        if let raw { return raw }
        guard let body else { return [] }
        return Self.encode(body, pretty: false)
    }

    func response(from request: Request, context: some RequestContext) -> Response {
        Self.response(status: status, bytes: bytes)
    }

    /// A response with these bytes, labelled JSON when there are any (as VB365 labels its answers).
    static func response(status: Int, bytes: [UInt8]) -> Response {
        var headers = HTTPFields()
        if !bytes.isEmpty { headers[.contentType] = "application/json; charset=utf-8" }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func encode(_ value: JSONValue, pretty: Bool) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(value))) ?? []
    }
}

/// A request the simulator refuses, with the answer VB365 would give.
struct VB365Refusal: Error {
    let answer: VB365Answer
}
