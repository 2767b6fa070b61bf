/// What the control surface asked for, per endpoint: the next `remaining` calls get `kind`.
struct Fault {
    enum Kind: Equatable {
        /// Answers this status with a `RESTExceptionInfo`, without processing.
        case status(Int)
        /// Processed, then the connection is closed without an answer.
        case dropAfterProcessing
        /// Processed, then the status line, the headers and half the body are sent and the
        /// connection is closed.
        case truncateAfterProcessing
        /// Processed, then 200 with a body that is not JSON.
        case malformedResponse
        /// Processed, then 200 with this many bytes of JSON padding.
        case oversizedResponse(Int)
        /// Answers this status and these exact bytes (a hostile server: huge numbers, escapes).
        case rawResponse(Int, [UInt8])
        /// Answers this status with a `RESTExceptionInfo` whose message is the request body as
        /// received (a server that echoes secrets back).
        case echoRequest(Int)
        /// `GET Organizations` (v8): a full page every time, never the end; `repeating` answers
        /// the first page again and again, otherwise each page is new.
        case endlessPages(repeating: Bool)
    }
    let kind: Kind
    var remaining: Int
}
