// See ../README: opaque stand-in for the gloo header of the same name.
#pragma once

namespace gloo::transport {
class Device;
class UnboundBuffer;
}  // namespace gloo::transport
