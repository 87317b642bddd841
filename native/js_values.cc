#include "js_values.h"

#include <cstdio>
#include <cstring>

namespace ctls {

bool DefineOwn(napi_env env, napi_value object, const char* name, napi_value value) {
  if (object == nullptr || value == nullptr) return false;
  napi_property_descriptor property = {name,   nullptr, nullptr, nullptr, nullptr, value, napi_default_jsproperty,
                                       nullptr};
  return napi_define_properties(env, object, 1, &property) == napi_ok;
}

bool DefineOwn(napi_env env, napi_value object, const char* name, const char* value) {
  napi_value text = nullptr;
  return napi_create_string_utf8(env, value, std::strlen(value), &text) == napi_ok &&
         DefineOwn(env, object, name, text);
}

bool DefineOwn(napi_env env, napi_value object, const char* name, const std::string& value) {
  napi_value text = nullptr;
  return napi_create_string_utf8(env, value.data(), value.size(), &text) == napi_ok &&
         DefineOwn(env, object, name, text);
}

bool DefineOwn(napi_env env, napi_value object, const char* name, double value) {
  napi_value number = nullptr;
  return napi_create_double(env, value, &number) == napi_ok && DefineOwn(env, object, name, number);
}

bool DefineOwn(napi_env env, napi_value object, const char* name, bool value) {
  napi_value boolean = nullptr;
  return napi_get_boolean(env, value, &boolean) == napi_ok && DefineOwn(env, object, name, boolean);
}

bool DefineElement(napi_env env, napi_value array, uint32_t index, napi_value value) {
  if (array == nullptr || value == nullptr) return false;
  // Property keys are strings; V8 reads a canonical decimal one as the index.
  char digits[11];
  const int length = std::snprintf(digits, sizeof(digits), "%u", index);
  napi_value key = nullptr;
  if (napi_create_string_utf8(env, digits, static_cast<size_t>(length), &key) != napi_ok) return false;
  napi_property_descriptor element = {nullptr, key, nullptr, nullptr, nullptr, value, napi_default_jsproperty, nullptr};
  return napi_define_properties(env, array, 1, &element) == napi_ok;
}

napi_value NewTuple(napi_env env, std::initializer_list<napi_value> values) {
  static const char* const kIndexNames[] = {"0", "1", "2", "3", "4", "5", "6", "7"};
  constexpr size_t kMaxTuple = sizeof(kIndexNames) / sizeof(kIndexNames[0]);
  napi_value undefined = nullptr;
  napi_value array = nullptr;
  if (values.size() > kMaxTuple || napi_get_undefined(env, &undefined) != napi_ok ||
      napi_create_array_with_length(env, values.size(), &array) != napi_ok) {
    return nullptr;
  }
  napi_property_descriptor elements[kMaxTuple];
  size_t count = 0;
  for (napi_value value : values) {
    elements[count] = {
        kIndexNames[count],      nullptr, nullptr, nullptr, nullptr, value == nullptr ? undefined : value,
        napi_default_jsproperty, nullptr};
    ++count;
  }
  return napi_define_properties(env, array, count, elements) == napi_ok ? array : nullptr;
}

bool ReadTruth(napi_env env, napi_value value, bool* truth) {
  if (value == nullptr) return false;
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return false;
  // The common cases need no coercion, which is refused once JavaScript cannot run.
  if (type == napi_undefined || type == napi_null) {
    *truth = false;
    return true;
  }
  napi_value boolean = value;
  if (type != napi_boolean && napi_coerce_to_bool(env, value, &boolean) != napi_ok) return false;
  bool result = false;
  if (napi_get_value_bool(env, boolean, &result) != napi_ok) return false;
  *truth = result;
  return true;
}

bool ReadFlag(napi_env env, napi_value object, const char* name, bool* truth) {
  napi_value value = nullptr;
  if (object == nullptr || napi_get_named_property(env, object, name, &value) != napi_ok) return false;
  return ReadTruth(env, value, truth);
}

}  // namespace ctls
