#include "js_values.h"

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

bool DefineOwn(napi_env env, napi_value object, const char* name, double value) {
  napi_value number = nullptr;
  return napi_create_double(env, value, &number) == napi_ok && DefineOwn(env, object, name, number);
}

bool DefineOwn(napi_env env, napi_value object, const char* name, bool value) {
  napi_value boolean = nullptr;
  return napi_get_boolean(env, value, &boolean) == napi_ok && DefineOwn(env, object, name, boolean);
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
