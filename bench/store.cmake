# store-bench: the store figures of SPEC section 9 (insert of 1,000 interleaved devices
# with the naive-layout baseline, a day of one stream and 30 days of hourly averages out
# of 10M rows). Included from bench/CMakeLists.txt.
add_executable(store-bench ${CMAKE_CURRENT_LIST_DIR}/store_bench.c)
target_link_libraries(store-bench PRIVATE tk_store tk_common PkgConfig::SQLITE3)
