internal import Foundation
internal import NIOCore

/// The open connections of one simulator, so that ``VB365Simulator/stop()`` can close them all
/// at once, idle keep-alive ones and those waiting for a delayed answer alike.
final class ConnectionRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var channels: [ObjectIdentifier: any Channel] = [:]
    private var closed = false

    func add(_ channel: any Channel) {
        let accepted = lock.withLock {
            guard !closed else { return false }
            channels[ObjectIdentifier(channel)] = channel
            return true
        }
        guard accepted else {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [weak self] _ in self?.remove(channel) }
    }

    private func remove(_ channel: any Channel) {
        _ = lock.withLock { channels.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Closes every connection, and every one that is accepted from now on.
    func closeAll() {
        let open = lock.withLock {
            closed = true
            return Array(channels.values)
        }
        for channel in open { channel.close(promise: nil) }
    }

    /// A handler for each new connection's pipeline that registers the connection.
    func tracker() -> ConnectionTracker { ConnectionTracker(registry: self) }
}

/// Registers its connection with a ``ConnectionRegistry``; passes everything through.
final class ConnectionTracker: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let registry: ConnectionRegistry

    init(registry: ConnectionRegistry) {
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        registry.add(context.channel)
    }
}
