internal import Foundation
internal import HTTPTypes
internal import Hummingbird
internal import NIOCore

/// The simulator's per-request context: Hummingbird's core storage, the connection (to drop it
/// as a fault), and the request as ``ExchangeMiddleware`` read it: body collected, target decoded.
struct SimulatorRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The connection, for faults that close it instead of answering.
    let channel: any Channel
    /// The request body, collected up to ``SimulatorServer/maximumBodyBytes``.
    var body: [UInt8] = []
    /// The path (percent-decoded) and query parameters.
    var target = RequestTarget("/")

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Bodies are collected by the middleware with the simulator's own cap.
    var maxUploadSize: Int { SimulatorServer.maximumBodyBytes }
}

extension Request {
    /// The first value of a header, by case-insensitive name.
    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }

    /// The media type of the body, lower-case, without parameters.
    var mediaType: String? {
        header("content-type")?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    }
}
