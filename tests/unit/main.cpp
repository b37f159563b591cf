// One Catch2 main shared by every test_<area> binary.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
