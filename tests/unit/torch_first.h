// Force-included first in the test binaries of the LibTorch areas (see tests/CMakeLists.txt).
// c10's logging header defines a CHECK macro (abort on failure) that would silently replace
// Catch2's CHECK in any test that includes torch after catch: torch goes first, its CHECK is
// dropped, and Catch2's definition is the one every test sees.
#pragma once
#include <torch/torch.h>
#undef CHECK
#include <catch2/catch.hpp>
