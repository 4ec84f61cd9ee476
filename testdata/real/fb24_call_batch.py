response = {
    "result": {
        "result": {
            "statuses": [
                {"NAME": "Новый лид", "SORT": 10, "STATUS_ID": "NEW"},
                {"NAME": "Рубрикация лида", "SORT": 20, "STATUS_ID": "IN_PROCESS"},
                {
                    "NAME": "Назначение ответственного",
                    "SORT": 30,
                    "STATUS_ID": "PROCESSED",
                },
                {"NAME": "Повторный контакт", "SORT": 40, "STATUS_ID": "1"},
                {"NAME": "Качественный лид", "SORT": 50, "STATUS_ID": "CONVERTED"},
                {"NAME": "Некачественный лид", "SORT": 60, "STATUS_ID": "JUNK"},
                {"NAME": "Принадлежит МП вне BX24", "SORT": 70, "STATUS_ID": "2"},
                {"NAME": "Задвоенные лиды", "SORT": 80, "STATUS_ID": "3"},
                {"NAME": "Внутренняя почта", "SORT": 90, "STATUS_ID": "4"},
                {
                    "NAME": "Сперва позвонили, а потом завели контакт и компанию",
                    "SORT": 100,
                    "STATUS_ID": "5",
                },
            ],
            "sources": [
                {"NAME": "Портальная СРМ", "SORT": 10, "STATUS_ID": "CALL"},
                {"NAME": "Электронная почта", "SORT": 20, "STATUS_ID": "WEBFORM"},
                {"NAME": "Входящий звонок", "SORT": 30, "STATUS_ID": "CALLBACK"},
                {"NAME": "Письмо (бумажное)", "SORT": 40, "STATUS_ID": "RC_GENERATOR"},
                {"NAME": "Задача от маркетинга", "SORT": 50, "STATUS_ID": "STORE"},
                {"NAME": "Иное", "SORT": 60, "STATUS_ID": "1"},
                {"NAME": "Запрос с сайта", "SORT": 70, "STATUS_ID": "2"},
            ],
        },
        "result_error": [],
        "result_total": [],
        "result_next": [],
        "result_time": {
            "statuses": {
                "start": 1654518286.547828,
                "finish": 1654518286.55755,
                "duration": 0.009721994400024414,
                "processing": 0.009358882904052734,
                "date_start": "2022-06-06T15:24:46+03:00",
                "date_finish": "2022-06-06T15:24:46+03:00",
            },
            "sources": {
                "start": 1654518286.55769,
                "finish": 1654518286.558538,
                "duration": 0.0008480548858642578,
                "processing": 0.0006170272827148438,
                "date_start": "2022-06-06T15:24:46+03:00",
                "date_finish": "2022-06-06T15:24:46+03:00",
            },
        },
    },
    "time": {
        "start": 1654518286.426799,
        "finish": 1654518286.558576,
        "duration": 0.13177704811096191,
        "processing": 0.010885000228881836,
        "date_start": "2022-06-06T15:24:46+03:00",
        "date_finish": "2022-06-06T15:24:46+03:00",
    },
}
